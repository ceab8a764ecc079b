"""What `pip install` carries: the minigrad package, and the book's models/ folder
under a name of its own, minigrad_models.

In the repository the folder stays models/ (`python -m models` from the checkout);
installed, it is minigrad_models (`python -m minigrad_models` from any folder), so
that no package named plain `models` lands in site-packages, where it would clash
with any other project's. Every import inside models/ is relative, which is what
lets the same files work under both names.
"""
from setuptools import find_packages, setup

FOLDER = "models"
INSTALLED_AS = "minigrad_models"

# models, models.twins, ... found on disk, then renamed: a new family folder needs no edit here
MODEL_PACKAGES = [INSTALLED_AS + name[len(FOLDER):]
                  for name in find_packages(include=[FOLDER, FOLDER + ".*"])]

setup(packages=find_packages(include=["minigrad", "minigrad.*"]) + MODEL_PACKAGES,
      package_dir={INSTALLED_AS: FOLDER})
