"""mypyc trial (h-mypyc): compile the story placement's modules in place, as C extensions.

    python bench/mypyc_trial.py build_ext --inplace     # from a tree's root; needs mypy and a C compiler
    find monitor -name '*.so' -delete; rm -f *__mypyc*.so   # back to pure Python

Measured, not shipped (README "Performance"): the compiled modules are imported instead of their .py
files (an extension module wins over a .py in the same folder); the group library lands in the root.
"""

from mypyc.build import mypycify
from setuptools import setup

MODULES = [
    *(f"monitor/stories/{m}.py" for m in ("profile", "screen", "evidence", "fingerprint", "lookup")),
    *(f"monitor/stories/{m}.py" for m in ("textform", "words", "sentences")),
    *(f"monitor/archive/{m}.py" for m in ("compact", "storymemory", "storyindex")),
    "monitor/service/grouping.py",
]

setup(name="monitor-mypyc-trial", packages=[], ext_modules=mypycify(MODULES, opt_level="3"))
