#ifndef CFUZZER_H
#define CFUZZER_H

#include <stddef.h>

/// libFuzzer's driver (compiler-rt's FuzzerInterface.h; the data pointer is `const uint8_t *` there, the same
/// in the ABI). Only a binary linked with -sanitize=fuzzer has it: the harnesses call it only when built with
/// the FUZZING condition.
int LLVMFuzzerRunDriver(
    int *_Nonnull argc, char *_Nullable *_Nullable *_Nonnull argv,
    int (*_Nonnull callback)(const void *_Nonnull data, size_t size));

#endif
