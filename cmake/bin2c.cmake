# SPDX-License-Identifier: MIT
# Writes a file's bytes as a C array, for embedding a compiled eBPF object:
#   cmake -DIN=file.o -DOUT=file.c -DNAME=symbol -P bin2c.cmake
# defines `const unsigned char NAME[]` and `const size_t NAME_len`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes per line keeps the generated file readable in a debugger.
string(REGEX REPLACE "((0x..,){16})" "\\1\n\t" bytes "${bytes}")
file(WRITE "${OUT}"
	"/* Generated from ${IN} by cmake/bin2c.cmake; do not edit. */\n"
	"#include <stddef.h>\n"
	"extern const unsigned char ${NAME}[];\n"
	"extern const size_t ${NAME}_len;\n"
	"const unsigned char ${NAME}[] __attribute__((aligned(8))) = {\n\t${bytes}\n};\n"
	"const size_t ${NAME}_len = ${len};\n")
