#!/usr/bin/env bash
# cmake --install puts the binary, libcascade, headers, cascadeConfig.cmake and cascade.pc in
# place; the example of docs/inference.md, extracted from the doc as it stands, builds against
# the installed library with pkg-config and with find_package(cascade) and prints what
# `cascade predict` writes; the install prefix still works after being moved (cascade.pc,
# the CMake package, the binary's library and tools); packaging/ files parse.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:?}/it-install.XXXXXX")
src=${CASCADE_SOURCE_DIR:?}
py=${CASCADE_PYTHON:-/usr/bin/python3}
cd "$here"
cmake --install "$CASCADE_BUILD_DIR" --prefix "$here/prefix" >/dev/null
test -x prefix/bin/cascade
prefix/bin/cascade --version | grep -q "^cascade "
test -f prefix/include/cascade/cascade.h && test -f prefix/include/cascade/model.h
test -f prefix/share/cascade/tools/plot_evaluation.py
grep -q '^prefix=${pcfiledir}/' prefix/lib/pkgconfig/cascade.pc

# the example program and its CMakeLists.txt, as docs/inference.md shows them
"$py" - "$src/docs/inference.md" <<'PY'
import re, sys
doc = open(sys.argv[1]).read()
example = doc[doc.index("## Example"):]
blocks = re.findall(r"```(\w+)\n(.*?)```", example, re.S)
c = [b for lang, b in blocks if lang == "c"][0]
cm = [b for lang, b in blocks if lang == "cmake"][0]
sh = [b for lang, b in blocks if lang == "sh" and b.startswith("cc predict_f32.c")][0]
assert "cascade_model_predict" in c and "find_package(cascade" in cm
open("predict_f32.c", "w").write(c)
open("CMakeLists.txt", "w").write(cm)
# the pkg-config build command (the lines up to the first that does not continue)
cmd = re.match(r"(.*?[^\\]\n)", sh, re.S).group(1)
assert cmd.startswith("cc predict_f32.c"), cmd
open("build-pkgconfig.sh", "w").write(cmd)
PY

# a tiny run trained by the installed binary, and the inputs as raw float32
"$py" "$src/tools/toy_airshower.py" -n 200 -o showers.h5 --seed 7 >/dev/null
cat > job.ini <<'INI'
[job]
name = tiny
seed = 1
[data]
train = showers.h5
valid_fraction = 0.25
inputs = time, signal
log_inputs = signal
targets = logE, xmax
normalize = standard
normalize_targets = standard
[train]
batch = 25
micro_batch = 25
epochs = 1
loss = mse
[optimizer]
type = adam
lr = 1e-3
[model.f]
type = flatten
[model.h]
type = dense
units = 8
activation = relu
[model.out]
type = dense
units = 2
INI
prefix/bin/cascade train job.ini --out run --quiet
prefix/bin/cascade predict run --data showers.h5 -o pred.h5
"$py" - <<'PY'
import h5py, numpy as np
with h5py.File("showers.h5") as f:
    for k in ("time", "signal"):
        np.asarray(f[k], "<f4").tofile(k + ".f32")
with h5py.File("pred.h5") as f:
    out = np.asarray(f["output"], np.float32)
with open("expected.txt", "w") as t:
    for row in out:
        t.write(" ".join("%.9g" % v for v in row) + "\n")
PY

# builds against PREFIX with pkg-config and with CMake; each prints predict's outputs
build_and_run() { # PREFIX TAG
  rm -rf "build-$2" && mkdir "build-$2"
  (cd "build-$2" && cp ../predict_f32.c . &&
    PKG_CONFIG_PATH="$1/lib/pkgconfig" bash ../build-pkgconfig.sh)
  cmake -S . -B "build-$2/cmake" -DCMAKE_PREFIX_PATH="$1" >/dev/null
  cmake --build "build-$2/cmake" >/dev/null
  for exe in "build-$2/predict_f32" "build-$2/cmake/predict_f32"; do
    env -u LD_LIBRARY_PATH "$exe" run time.f32 signal.f32 > out.txt
    cmp out.txt expected.txt || { echo "$exe ($2): outputs differ from cascade predict"; exit 1; }
  done
  # a bad call from the example: the message, exit 1
  if env -u LD_LIBRARY_PATH "build-$2/predict_f32" nowhere time.f32 signal.f32 2> err.txt; then exit 1; fi
  grep -q "nowhere: no such checkpoint file or run directory" err.txt
}
build_and_run "$here/prefix" installed

# relocation: the moved prefix works with no path of the old one left in it
mv prefix moved
if grep -rlF "$here/prefix" moved/lib/pkgconfig moved/lib/cmake moved/bin; then
  echo "the install names its prefix"; exit 1
fi
moved/bin/cascade --version | grep -q "^cascade "
test "$(PKG_CONFIG_PATH=$here/moved/lib/pkgconfig pkg-config --variable=includedir cascade)" -ef moved/include
build_and_run "$here/moved" moved
# the moved binary runs the tools beside it (not the source tree's): a stand-in leaves a mark
cat > moved/share/cascade/tools/plot_evaluation.py <<'PY'
import sys
open(sys.argv[sys.argv.index("-o") + 1] + "/tools-used", "w").write(__file__)
PY
env -u CASCADE_TOOLS moved/bin/cascade evaluate run --plots plots --out eval.json
grep -q "$here/moved/bin/../share/cascade/tools/plot_evaluation.py" plots/tools-used

# packaging/: the Spack recipe compiles as Python and declares what the build needs; the
# modulefile loads (environment-modules) or at least parses as Tcl
"$py" - "$src/packaging/spack/package.py" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read(), sys.argv[1])
cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Cascade"]
assert cls and cls[0].bases[0].id == "CMakePackage", "class Cascade(CMakePackage) missing"
deps = [c.args[0].value for c in ast.walk(cls[0]) if isinstance(c, ast.Call)
        and getattr(c.func, "id", "") == "depends_on"]
for need in ("mpi", "hdf5@1.10:+mpi", "inih", "libpng", "random123"):
    assert need in deps or any(d.startswith(need) for d in deps), (need, deps)
PY
modulecmd=$(ls /usr/lib/modulecmd.tcl /usr/share/modules/libexec/modulecmd.tcl 2>/dev/null | head -1 || true)
if [[ -n $modulecmd ]] && command -v tclsh >/dev/null; then
  eval "$(CASCADE_ROOT=$here/moved tclsh "$modulecmd" bash load "$src/packaging/modules/cascade")"
  test "$(command -v cascade)" = "$here/moved/bin/cascade"
  pkg-config --modversion cascade | grep -q .
  echo "install: modulefile loaded with $modulecmd"
elif command -v tclsh >/dev/null; then
  echo 'set f [open [lindex $argv 0]]; exit [expr {![info complete [read $f]]}]' > complete.tcl
  tclsh complete.tcl "$src/packaging/modules/cascade"
  echo "install: modulefile parses (tclsh; environment-modules not installed)"
else
  "$py" -c 'import sys; t = open(sys.argv[1]).read(); assert t.startswith("#%Module") and t.count("{") == t.count("}")' \
    "$src/packaging/modules/cascade"
  echo "install: modulefile checked for balanced braces only (no tclsh)"
fi
echo "install: ok"
cd / && rm -rf "$here"
