#!/usr/bin/env bash
# cmake --install puts the binary, libcascade, headers, cascadeConfig.cmake and cascade.pc in
# place, and a project using find_package(cascade) / pkg-config builds and runs against them.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:?}/it-install.XXXXXX")
cmake --install "$CASCADE_BUILD_DIR" --prefix "$here/prefix" >/dev/null
test -x "$here/prefix/bin/cascade"
"$here/prefix/bin/cascade" --version | grep -q "^cascade "
test -f "$here/prefix/include/cascade/cascade.h"
mkdir "$here/app"
cat > "$here/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(cascade REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE cascade::cascade)
CM
cat > "$here/app/main.c" <<'C'
#include <cascade/cascade.h>
#include <stdio.h>
int main(void) {
    int64_t d[3] = {2, 9, 9};
    cascade_shape s = cascade_shape_make(3, d);
    printf("%lld\n", (long long)cascade_shape_numel(&s));
    return 0;
}
C
cmake -S "$here/app" -B "$here/app/build" -DCMAKE_PREFIX_PATH="$here/prefix" >/dev/null
cmake --build "$here/app/build" >/dev/null
test "$(LD_LIBRARY_PATH=$here/prefix/lib "$here/app/build/app")" = 162
PKG_CONFIG_PATH="$here/prefix/lib/pkgconfig" pkg-config --libs cascade | grep -q -- "-lcascade"
echo "install: ok"
rm -rf "$here"
