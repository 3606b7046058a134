// Just enough of CUDA for the kernels of ../../src/cu/blocks.cu and embedding.cu to compile and run as
// plain C++ on the host: grid-stride kernels run one thread at a time (or over a simulated grid), and a
// warp for the shuffle kernels runs as 32 threads meeting at a barrier in every __shfl_xor_sync.
// `volatile` keeps the _rn operations unfused.
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <barrier>
#include <thread>
#include <vector>
struct D3 { unsigned x, y, z; };
static thread_local D3 blockIdx{0, 0, 0}, threadIdx{0, 0, 0};
static D3 blockDim{1, 1, 1}, gridDim{1, 1, 1};
#define __global__
#define __launch_bounds__(...)
#define __device__
#define __forceinline__ inline
#define __restrict__
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
// The vector types and loads of embedding.cu (compiled with -fno-strict-aliasing: rows are bytes).
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
template <class T> inline T __ldg(const T* p) { return *p; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
// Threads run one at a time, so the atomic needs no atomicity.
inline unsigned long long atomicMin(unsigned long long* a, unsigned long long v) {
    unsigned long long old = *a;
    if (v < old) *a = v;
    return old;
}
// embedding.cu converts halves with PTX's cvt.f32.f16; on the host, IEEE binary16 by hand.
#define HERCULES_HOST_SHIM 1
inline float hercules_shim_h2f(unsigned short h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp((double)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024.0 + m, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}
// One warp of 32 lanes as threads in lockstep at every shuffle.
static float g_lanes[32];
static std::barrier<>* g_bar = nullptr;
inline float __shfl_xor_sync(unsigned, float v, int m) {
    unsigned lane = threadIdx.x & 31u;
    g_lanes[lane] = v;
    g_bar->arrive_and_wait();
    float r = g_lanes[lane ^ (unsigned)m];
    g_bar->arrive_and_wait();
    return r;
}
template <class F> void run_warp(F f) {
    std::barrier<> bar(32);
    g_bar = &bar;
    blockDim.x = 32; gridDim.x = 1;
    std::vector<std::thread> ts;
    for (unsigned l = 0; l < 32; l++) ts.emplace_back([&, l] { threadIdx.x = l; blockIdx.x = 0; f(); });
    for (auto& t : ts) t.join();
    blockDim.x = 1;
}
