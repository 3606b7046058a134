// Just enough of CUDA for the grid-stride kernels of ../../src/cu/blocks.cu to compile and run as plain
// C++ on the host (one thread at a time; `volatile` keeps the _rn operations unfused). Warp shuffles
// are not emulated: softmax_add is not run here.
#include <math.h>
#include <string.h>
#include <stdio.h>
struct D3 { unsigned x, y, z; };
static D3 blockIdx{0, 0, 0}, blockDim{1, 1, 1}, gridDim{1, 1, 1}, threadIdx{0, 0, 0};
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline float __shfl_xor_sync(unsigned, float v, int) { return v; }
