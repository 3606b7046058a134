// Small kernels around cuBLAS and the embedding bag: the fused bias + activation epilogue, column
// copies into the feature matrix, DLRM's dot interaction, table fills and the random-gather ceiling.

// Every kernel here is launched with HERCULES_BLOCK threads per block (hercules-gpu's BLOCK_THREADS,
// passed as -DHERCULES_BLOCK by the compile): __launch_bounds__ lets the compiler budget registers for
// that block size, and a launch with more threads fails instead of running with too few registers.
#ifndef HERCULES_BLOCK
#define HERCULES_BLOCK 256
#endif

#define ACT_NONE 0u
#define ACT_RELU 1u
#define ACT_SIGMOID 2u

// y[r * ldy + c] = act(y[r * ldy + c] + bias[c]) for r < m, c < n (bias may be null).
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) bias_act(float* __restrict__ y, const float* __restrict__ bias, unsigned int m,
                                    unsigned int n, unsigned int ldy, unsigned int act) {
    const unsigned long long total = (unsigned long long)m * n;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int r = (unsigned int)(i / n);
        const unsigned int c = (unsigned int)(i % n);
        float v = y[(unsigned long long)r * ldy + c];
        if (bias) {
            v += bias[c];
        }
        if (act == ACT_RELU) {
            v = fmaxf(v, 0.f);
        } else if (act == ACT_SIGMOID) {
            v = 1.0f / (1.0f + expf(-v));
        }
        y[(unsigned long long)r * ldy + c] = v;
    }
}

// dst[r * ld_dst + c] = src[r * ld_src + c] for r < rows, c < cols.
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) copy_cols(const float* __restrict__ src, unsigned int ld_src,
                                     float* __restrict__ dst, unsigned int ld_dst, unsigned int rows,
                                     unsigned int cols) {
    const unsigned long long total = (unsigned long long)rows * cols;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int r = (unsigned int)(i / cols);
        const unsigned int c = (unsigned int)(i % cols);
        dst[(unsigned long long)r * ld_dst + c] = src[(unsigned long long)r * ld_src + c];
    }
}

// DLRM dot interaction. x0 holds per row `nf` features of width d (row stride xw); out (row stride ow)
// gets the first feature, then the dot of each pair (pairs[2p], pairs[2p+1]) in the host's order.
// One thread per (row, output column).
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) dot_interaction(const float* __restrict__ x0, unsigned int xw, unsigned int d,
                                           const unsigned int* __restrict__ pairs, unsigned int npairs,
                                           float* __restrict__ out, unsigned int ow, unsigned int rows) {
    const unsigned int cols = d + npairs;
    const unsigned long long total = (unsigned long long)rows * cols;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int r = (unsigned int)(i / cols);
        const unsigned int c = (unsigned int)(i % cols);
        const float* x = x0 + (unsigned long long)r * xw;
        float v;
        if (c < d) {
            v = x[c];
        } else {
            const unsigned int p = c - d;
            const float* a = x + pairs[2 * p] * d;
            const float* b = x + pairs[2 * p + 1] * d;
            float acc[4] = {0.f, 0.f, 0.f, 0.f};
            unsigned int k = 0;
            for (; k + 4 <= d; k += 4) {
                acc[0] += a[k] * b[k];
                acc[1] += a[k + 1] * b[k + 1];
                acc[2] += a[k + 2] * b[k + 2];
                acc[3] += a[k + 3] * b[k + 3];
            }
            for (; k < d; ++k) {
                acc[0] += a[k] * b[k];
            }
            v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
        out[(unsigned long long)r * ow + c] = v;
    }
}

__device__ __forceinline__ unsigned long long splitmix64(unsigned long long x) {
    unsigned long long z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Fills a table with values U(-bound, bound) from a counter-based hash of (seed, element).
// dtype 0 fp32, 1 fp16, 2 int8 (random codes, scale 2*bound/255, bias -bound). One thread per
// element (int8: per row), grid-stride.
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) fill_table(unsigned char* __restrict__ data, unsigned long long rows,
                                      unsigned int dim, unsigned int stride, unsigned int dtype,
                                      unsigned long long seed, float bound) {
    const unsigned long long step = (unsigned long long)gridDim.x * blockDim.x;
    const unsigned long long first = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (dtype == 2u) {
        for (unsigned long long r = first; r < rows; r += step) {
            unsigned char* row = data + r * stride;
            for (unsigned int c = 0; c < dim; ++c) {
                row[c] = (unsigned char)(splitmix64(seed ^ (r * dim + c)) >> 56);
            }
            const float scale = 2.0f * bound / 255.0f;
            const float bias = -bound;
            const unsigned int sb = __float_as_uint(scale);
            const unsigned int bb = __float_as_uint(bias);
            for (unsigned int k = 0; k < 4; ++k) {
                row[dim + k] = (unsigned char)(sb >> (8 * k));
                row[dim + 4 + k] = (unsigned char)(bb >> (8 * k));
            }
        }
        return;
    }
    const unsigned long long total = rows * dim;
    for (unsigned long long i = first; i < total; i += step) {
        const unsigned long long r = i / dim;
        const unsigned int c = (unsigned int)(i % dim);
        const float u = (float)(splitmix64(seed ^ i) >> 40) * (1.0f / 16777216.0f);
        const float v = (2.0f * u - 1.0f) * bound;
        if (dtype == 0u) {
            reinterpret_cast<float*>(data + r * stride)[c] = v;
        } else {
            unsigned short h;
            asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
            reinterpret_cast<unsigned short*>(data + r * stride)[c] = h;
        }
    }
}

// The random-gather ceiling: `lanes` threads read one whole row (row_chunks 16-byte chunks) of a
// table of `rows` rows chosen by a hash, `per_group` rows per sub-warp, UNROLL rows in flight; the
// sums go to sink (one float per thread) so the loads cannot be elided.
#define GATHER_UNROLL 8
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) gather_ceiling(const float4* __restrict__ table, unsigned long long rows,
                                          unsigned int row_chunks, unsigned int lanes,
                                          unsigned int per_group, unsigned long long seed,
                                          float* __restrict__ sink) {
    const unsigned long long gtid = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned long long group = gtid / lanes;
    const unsigned int lane = (unsigned int)(gtid % lanes);
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (unsigned int i = 0; i < per_group; i += GATHER_UNROLL) {
        float4 v[GATHER_UNROLL];
#pragma unroll
        for (int u = 0; u < GATHER_UNROLL; ++u) {
            const unsigned long long r =
                __umul64hi(splitmix64(seed ^ (group * per_group + i + (unsigned int)u)), rows);
            v[u] = (i + (unsigned int)u < per_group && lane < row_chunks)
                       ? __ldg(table + r * row_chunks + lane)
                       : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int u = 0; u < GATHER_UNROLL; ++u) {
            acc.x += v[u].x;
            acc.y += v[u].y;
            acc.z += v[u].z;
            acc.w += v[u].w;
        }
    }
    sink[gtid] = acc.x + acc.y + acc.z + acc.w;
}
