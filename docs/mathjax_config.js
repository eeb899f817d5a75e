// Loaded before MathJax 3 (docs/conf.py: mathjax_config_path). The ipywidgets embedder
// (@jupyter-widgets/html-manager 1.0) typesets widget labels through MathJax 2's API,
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), which MathJax 3 does not have: without
// this, every page with a widget logs "Cannot read properties of undefined (reading 'Queue')".
// Before MathJax has started, a call does nothing (its first pass typesets the whole page).
window.MathJax = Object.assign(window.MathJax || {}, {
  Hub: {
    Queue(...calls) {
      for (const call of calls) {
        if (Array.isArray(call) && call[0] === "Typeset" && window.MathJax.typesetPromise) {
          window.MathJax.typesetPromise([call[2]]).catch(() => {});
        }
      }
    },
  },
});
