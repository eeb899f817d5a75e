"""Speed helpers for training, kept apart from the training loop: none changes a number.

- value_and_grad_of_tree: autograd's value_and_grad for a function of a nested dict/list of
  arrays (an SBN's parameters), differentiating with respect to the tuple of its arrays;
- reuse_freed_memory: tell glibc's malloc to keep freed memory for reuse, a process-wide
  setting that the experiments command (not `train`) switches on."""
import ctypes

from autograd import value_and_grad


def value_and_grad_of_tree(fun):
    """autograd's value_and_grad for fun(tree, *args), where `tree` is a nested dict/list of
    arrays such as an SBN's parameters; returns (value, gradient with the tree's structure).

    It differentiates with respect to the tuple of the tree's arrays and rebuilds the tree
    from plain containers inside: autograd zero-fills and adds up the whole gradient once
    for every nesting level of a container it traces, which for {"rec": [{"W", "b"}, ...]}
    costs some 5% of an SBN training step; this way one level is left."""
    def of_leaves(leaves, tree, *args):
        return fun(_rebuild(tree, iter(leaves)), *args)
    value_and_grad_of_leaves = value_and_grad(of_leaves)

    def value_and_gradient(tree, *args):
        value, gradients = value_and_grad_of_leaves(tuple(_leaves(tree)), tree, *args)
        return value, _rebuild(tree, iter(gradients))
    return value_and_gradient


def _leaves(tree):
    """The arrays of a nested dict/list/tuple, in order."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, (list, tuple)):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree]


def _rebuild(tree, leaves):
    """`tree` with its arrays replaced, in order, by those the iterator `leaves` yields."""
    if isinstance(tree, dict):
        return {key: _rebuild(value, leaves) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_rebuild(value, leaves) for value in tree)
    return next(leaves)


def reuse_freed_memory():
    """Ask the C library's malloc (glibc, as on Linux and Binder) to keep freed memory for
    reuse rather than hand it back to the operating system, for the rest of the process;
    returns whether it could.

    Every training step allocates some 30 MB of fresh arrays and frees them at the end.
    By default glibc returns that memory to the system, and the next step faults it back
    in 4 kB page by page, which costs about as much as all of the step's element-wise
    arithmetic (a VIMCO K=50 step of a 784-200-200-200 SBN: 65 ms -> 47 ms; see
    benchmarks/run.py). Arrays under 32 MB now come from memory the process keeps; the
    process holds on to (up to 256 MB of) its peak usage. A no-op where there is no glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3     # from glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 256 << 20))
