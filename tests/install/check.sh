#!/usr/bin/env bash
# Another project's view of patchbay: builds tests/install/consumer.cpp against an installed
# tree with pkg-config and with CMake (find_package) and runs it; runs the installed engine-run
# without LD_LIBRARY_PATH; configures a meson project that takes patchbay as a subproject and
# checks that the subproject brings its library and tool only (no tests, benchmarks or
# examples, so no Catch2 or Google Benchmark needed). `tools/dev check-install` installs a
# build into a temporary directory and calls this.
#
#   tests/install/check.sh DESTDIR PREFIX [static]
#       what `meson install --destdir DESTDIR` wrote for a build configured with --prefix PREFIX;
#       `static`: a -Ddefault_library=static build, linked with `pkg-config --static` and the
#       CMake package's static branch, whose programs must not need libpatchbay.so
# Prints one line per check; exits 1 at the first that fails.
set -euo pipefail
destdir=$(cd "$1" && pwd)
prefix=$destdir$2
kind=${3:-shared}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "check-install: $*" >&2
  exit 1
}
library_name=libpatchbay.so
static=()
if [ "$kind" = static ]; then
  library_name=libpatchbay.a
  static=(--static)
fi
library=$(find "$prefix" -name "$library_name" | head -n 1)
[ -n "$library" ] || fail "no $library_name under $prefix"
libdir=$(dirname "$library")

# A static build's programs hold the library: none may load libpatchbay.so.
check_linkage() {
  if [ "$kind" = static ] && ldd "$1" | grep -q 'libpatchbay\.so'; then
    fail "$2 of a static install loads libpatchbay.so"
  fi
  return 0
}

# pkg-config: the flags alone must compile a C++20 user of the headers and link it. The file
# says prefix=PREFIX; the tree is under DESTDIR, so pkg-config is told the prefix it has now.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pc=(--define-variable=prefix="$prefix" "${static[@]}")
# shellcheck disable=SC2046
g++ -o "$work/with-pkg-config" "$here/consumer.cpp" \
  $(pkg-config "${pc[@]}" --cflags --libs patchbay) -Wl,-rpath,"$libdir" ||
  fail "a program built with pkg-config's flags (${pc[*]}) did not compile or link"
[ "$("$work/with-pkg-config")" = "sum 20" ] || fail "the pkg-config build ran wrong"
check_linkage "$work/with-pkg-config" "the pkg-config build"
echo "check-install: pkg-config ($kind): built and ran"

# CMake: find_package(patchbay) and the patchbay::patchbay target.
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$libdir" \
  >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; fail "cmake could not configure"; }
cmake --build "$work/cmake" >"$work/cmake-build.log" 2>&1 ||
  { cat "$work/cmake-build.log" >&2; fail "the CMake build failed"; }
[ "$("$work/cmake/consumer")" = "sum 20" ] || fail "the CMake build ran wrong"
check_linkage "$work/cmake/consumer" "the CMake build"
echo "check-install: CMake find_package ($kind): built and ran"

# The installed tool finds the installed library by its rpath.
env -u LD_LIBRARY_PATH "$prefix/bin/engine-run" --version >/dev/null ||
  fail "the installed engine-run does not start without LD_LIBRARY_PATH"
check_linkage "$prefix/bin/engine-run" "engine-run"
echo "check-install: installed engine-run starts"
[ "$kind" = static ] && exit 0

# meson: patchbay as a subproject. Only configured: building would compile the library again.
mkdir -p "$work/meson/subprojects"
cp "$here/meson.build" "$here/consumer.cpp" "$work/meson/"
ln -s "$source_root" "$work/meson/subprojects/patchbay"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
meson setup --force-fallback-for=patchbay "$work/meson/build" "$work/meson" >"$work/meson.log" 2>&1 ||
  { cat "$work/meson.log" >&2; fail "meson could not configure patchbay as a subproject"; }
tests=$(meson introspect --tests "$work/meson/build" |
  python3 -c 'import json, sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
[ "$tests" = "consumer" ] || fail "the subproject added tests to the consumer's: $tests"
targets=$(meson introspect --targets "$work/meson/build" |
  python3 -c 'import json, sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
[ "$targets" = "consumer engine-run patchbay" ] ||
  fail "the subproject builds more than its library and tool: $targets"
echo "check-install: meson subproject: library and tool only, no tests"
