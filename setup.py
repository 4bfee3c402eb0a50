"""The one thing pyproject.toml cannot say without a warning: the C extension.

``imload.journal._colbuf`` is the columnar journal writer's fast path
(imload/journal/colbuf.py). It is optional: without a C compiler the package installs
all the same and the writer takes its pure-Python path.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("imload.journal._colbuf", ["imload/journal/_colbuf.c"],
                             optional=True)])
