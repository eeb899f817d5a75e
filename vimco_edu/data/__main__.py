"""python -m vimco_edu.data: fetch, verify and cache the standard MNIST digits once
(vimco_edu.data.standard), e.g. before a sweep on a machine that will go offline."""
from vimco_edu.data.standard import main

main()
