#!/usr/bin/env bash
# Builds every programs/*.c into programs/build/NAME.o (BPF ELF objects with BTF).
#
#   programs/build.sh            build what changed (make-style: the object is older than its source,
#                                than any programs/*.h, or than this script)
#   programs/build.sh --force    rebuild everything
#
# Compilers:
#   default   Debian clang (clang-14): clang -O2 -g -target bpf -mcpu=v3   (override with BPF_CLANG=...)
#   v4        a file whose FIRST line contains the marker `// sluice: mcpu=v4` is built with the Swift
#             toolchain's clang (LLVM 21, next to `swift`) and -mcpu=v4, because clang-14 does not know v4.
#
# Runs from any working directory; stops with a non-zero status on the first compile error and leaves no
# object behind for a source that failed (objects are written to a temporary file, then renamed).
set -euo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
out="$here/build"
self="$here/build.sh"
force=0
case "${1:-}" in
    "") ;;
    -f|--force) force=1 ;;
    -h|--help) sed -n '2,14p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (use --force or --help)" >&2; exit 2 ;;
esac

v3_clang="${BPF_CLANG:-clang}"
multiarch="$(gcc -dumpmachine 2>/dev/null || true)"
if [ -z "$multiarch" ]; then
    multiarch="$("$v3_clang" -dumpmachine 2>/dev/null || true)"
fi
common=(-O2 -g -target bpf -Wall -I"$here")
if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch" ]; then
    common+=(-I"/usr/include/$multiarch")
fi

v4_clang=""
find_v4_clang() {
    if [ -n "$v4_clang" ]; then return 0; fi
    if [ -n "${BPF_CLANG_V4:-}" ]; then v4_clang="$BPF_CLANG_V4"; return 0; fi
    local swift_bin
    swift_bin="$(command -v swift || true)"
    if [ -z "$swift_bin" ]; then
        echo "build.sh: $1 needs -mcpu=v4, which needs the Swift toolchain's clang, but 'swift' is not on PATH" \
             "(or set BPF_CLANG_V4)" >&2
        exit 1
    fi
    v4_clang="$(dirname "$(readlink -f "$swift_bin")")/clang"
    if [ ! -x "$v4_clang" ]; then
        echo "build.sh: $1 needs -mcpu=v4, but $v4_clang (the Swift toolchain's clang) does not exist" >&2
        exit 1
    fi
}

mkdir -p "$out"
shopt -s nullglob
sources=("$here"/*.c)
headers=("$here"/*.h)
if [ ${#sources[@]} -eq 0 ]; then
    echo "build.sh: no programs/*.c to build" >&2
    exit 1
fi

built=0; current=0
for src in "${sources[@]}"; do
    name="$(basename "$src" .c)"
    obj="$out/$name.o"
    stale=$force
    if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ "$self" -nt "$obj" ]; then stale=1; fi
    for h in "${headers[@]}"; do
        if [ "$h" -nt "$obj" ]; then stale=1; fi
    done
    if [ $stale -eq 0 ]; then
        current=$((current + 1))
        continue
    fi
    if head -n 1 "$src" | grep -q '// sluice: mcpu=v4'; then
        find_v4_clang "$name.c"
        cc="$v4_clang"; cpu=v4
    else
        cc="$v3_clang"; cpu=v3
    fi
    echo "build.sh: $name.c -> build/$name.o  [$cc -mcpu=$cpu]"
    tmp="$obj.tmp.$$"
    if ! "$cc" "${common[@]}" -mcpu="$cpu" -c "$src" -o "$tmp"; then
        rm -f "$tmp"
        echo "build.sh: FAILED to compile $src with $cc -mcpu=$cpu" >&2
        exit 1
    fi
    mv -f "$tmp" "$obj"
    built=$((built + 1))
done

# Objects whose source is gone would otherwise be picked up by tests as if they were still programs.
for obj in "$out"/*.o; do
    name="$(basename "$obj" .o)"
    if [ ! -e "$here/$name.c" ]; then
        echo "build.sh: removing build/$name.o (no $name.c any more)"
        rm -f "$obj"
    fi
done

echo "build.sh: $built built, $current up to date, objects in $out"
