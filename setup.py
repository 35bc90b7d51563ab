"""What setup.cfg cannot say: the top-level ``wsdl/`` ships inside the package.

``wsdl/`` stays the one source of the gateway's WSDL and XSDs in the
repository; a wheel (or ``pip install .``) carries it as the data package
``gateway.wsdl``, where :mod:`gateway.upstream.client` finds it at run time.
Everything else is declared in ``setup.cfg``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["gateway", "gateway.*"]), "gateway.wsdl"],
    package_dir={"gateway.wsdl": "wsdl"},
)
