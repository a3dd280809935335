# Spack recipe for cascade: `spack repo create myrepo && cp -r packaging/spack
# myrepo/packages/cascade` (this file as package.py there), then `spack install cascade`.
# Builds the library, the CLI and the installed pkg-config/CMake packages
# (docs/inference.md); the tests need CUnit and are off here.

from spack.package import *


class Cascade(CMakePackage):
    """Data-parallel deep learning for astroparticle physics: MPI + OpenMP training with
    bitwise-deterministic results for any rank and thread count, HDF5 data and checkpoints,
    and a C inference API (cascade/model.h) for trained models."""

    # the project has no public address yet: point git at your clone (spack edit cascade)
    homepage = "https://example.invalid/cascade"
    git = "https://example.invalid/cascade.git"

    maintainers("cascade-developers")

    version("main", branch="main")

    variant("tests", default=False, description="Build the CUnit test suite")

    depends_on("c", type="build")
    depends_on("cmake@3.20:", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("mpi")
    depends_on("hdf5@1.10:+mpi")
    depends_on("openblas threads=openmp")
    depends_on("inih")
    depends_on("libpng")
    depends_on("random123")
    depends_on("cunit", when="+tests")
    depends_on("python", type="run")
    depends_on("py-h5py", type="run")
    depends_on("py-numpy", type="run")
    depends_on("py-matplotlib", type="run")

    def cmake_args(self):
        # MPI, parallel HDF5 and OpenMP are found by CMake (FindMPI, FindHDF5 with
        # HDF5_PREFER_PARALLEL); the warnings stay warnings outside the project's CI
        return [self.define("CASCADE_BUILD_TESTS", self.spec.satisfies("+tests"))]

    def setup_run_environment(self, env):
        # the plotting helpers (share/cascade/tools, found beside the binary) run with this python
        env.set("CASCADE_PYTHON", self.spec["python"].command.path)
