// Loaded before MathJax 3 (docs/conf.py: mathjax_config_path). The ipywidgets embedder
// (@jupyter-widgets/html-manager 1.0) typesets widget labels through MathJax 2's API,
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), whenever window.MathJax exists.
// MathJax 3 has no Hub, and its script *replaces* window.MathJax with a new object (this one
// becomes MathJax.config), so a Hub put only on this object is gone once MathJax has loaded, and
// every widget logs "Cannot read properties of undefined (reading 'Queue')". Hence the setter:
// whatever object becomes window.MathJax gets the same Hub. A queued element is typeset once
// MathJax 3 has started (chained on its startup promise, as MathJax 3's documentation advises);
// before MathJax's script has run there is nothing to chain on, and MathJax's first pass over
// the page typesets the element anyway.
(function () {
  let current;
  const Hub = {
    Queue(...calls) {
      const startup = current && current.startup;
      for (const call of calls) {
        if (Array.isArray(call) && call[0] === "Typeset" && startup && startup.promise) {
          startup.promise = startup.promise.then(() => current.typesetPromise([call[2]]));
        }
      }
    },
  };
  current = Object.assign(window.MathJax || {}, { Hub });
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get() {
      return current;
    },
    set(value) {
      current = value;
      if (value && typeof value === "object" && !value.Hub) value.Hub = Hub;
    },
  });
})();
