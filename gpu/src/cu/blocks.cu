// Kernels of the non-DLRM blocks around cuBLAS: DIN attention units (input rows, per-unit bias and
// activation, the sum over units), the DIEN RNN (step gather, tanh step, softmax + add between
// layers), NCF's MF sum and DCNv2's cross update. Each mirrors the CPU code in models/src/blocks/,
// in the same order of float operations where it matters (explicit _rn intrinsics stop the compiler
// from fusing a multiply and an add the CPU does separately).

// Every kernel here is launched with HERCULES_BLOCK threads per block (hercules-gpu's BLOCK_THREADS,
// passed as -DHERCULES_BLOCK by the compile): __launch_bounds__ lets the compiler budget registers for
// that block size, and a launch with more threads fails instead of running with too few registers.
#ifndef HERCULES_BLOCK
#define HERCULES_BLOCK 256
#endif

#define ACT_NONE 0u
#define ACT_RELU 1u
#define ACT_SIGMOID 2u

// DIN unit inputs: for unit u < units and row r < rows, x[(u * rows + r) * 3d ..] = (b, q, b + q) where
// b = p[r * ldp + beh_col + u * d ..] (the behaviour tables are consecutive columns of the pooled
// matrix) and q = p[r * ldp + q_col ..].
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) din_unit_input(const float* __restrict__ p, unsigned int ldp, unsigned int beh_col,
                                          unsigned int q_col, unsigned int d, unsigned int units,
                                          unsigned int rows, float* __restrict__ x) {
    const unsigned long long total = (unsigned long long)units * rows * d;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int j = (unsigned int)(i % d);
        const unsigned long long ur = i / d;
        const unsigned int r = (unsigned int)(ur % rows);
        const unsigned int u = (unsigned int)(ur / rows);
        const float b = p[(unsigned long long)r * ldp + beh_col + (unsigned long long)u * d + j];
        const float q = p[(unsigned long long)r * ldp + q_col + j];
        float* row = x + ur * 3ull * d;
        row[j] = b;
        row[d + j] = q;
        row[2 * d + j] = __fadd_rn(b, q);
    }
}

// y[(u * rows + r) * n + c] = act(y[..] + bias[u * n + c]) for u < units, r < rows, c < n.
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) unit_bias_act(float* __restrict__ y, const float* __restrict__ bias,
                                         unsigned int units, unsigned int rows, unsigned int n,
                                         unsigned int act) {
    const unsigned long long total = (unsigned long long)units * rows * n;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int c = (unsigned int)(i % n);
        const unsigned int u = (unsigned int)(i / ((unsigned long long)rows * n));
        float v = __fadd_rn(y[i], bias[(unsigned long long)u * n + c]);
        if (act == ACT_RELU) {
            v = fmaxf(v, 0.f);
        } else if (act == ACT_SIGMOID) {
            v = 1.0f / (1.0f + expf(-v));
        }
        y[i] = v;
    }
}

// dst[r * ldd + c] = sum over u in order of y[(u * rows + r) * n + c], starting from 0 (the CPU's order).
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) sum_units(const float* __restrict__ y, unsigned int units, unsigned int rows,
                                     unsigned int n, float* __restrict__ dst, unsigned int ldd) {
    const unsigned long long total = (unsigned long long)rows * n;
    const unsigned long long plane = (unsigned long long)rows * n;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int r = (unsigned int)(i / n);
        const unsigned int c = (unsigned int)(i % n);
        float acc = 0.f;
        for (unsigned int u = 0; u < units; ++u) {
            acc = __fadd_rn(acc, y[u * plane + i]);
        }
        dst[(unsigned long long)r * ldd + c] = acc;
    }
}

// DIEN step-major sequence: seq[(t * rows + r) * d + j] = p[r * ldp + col + t * d + j].
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) gather_steps(const float* __restrict__ p, unsigned int ldp, unsigned int col,
                                        unsigned int d, unsigned int steps, unsigned int rows,
                                        float* __restrict__ seq) {
    const unsigned long long total = (unsigned long long)steps * rows * d;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int j = (unsigned int)(i % d);
        const unsigned long long tr = i / d;
        const unsigned int r = (unsigned int)(tr % rows);
        const unsigned int t = (unsigned int)(tr / rows);
        seq[i] = p[(unsigned long long)r * ldp + col + (unsigned long long)t * d + j];
    }
}

// tanh as the CPU's 13/6 rational function (models/src/blocks/rnn.rs, Eigen's float kernel), with
// the same separate multiplies and adds.
__device__ __forceinline__ float fast_tanh(float x) {
    const float clamp = 7.905311f;
    x = fminf(fmaxf(x, -clamp), clamp);
    const float x2 = __fmul_rn(x, x);
    float p = -2.7607685e-16f;
    p = __fadd_rn(__fmul_rn(p, x2), 2.0001879e-13f);
    p = __fadd_rn(__fmul_rn(p, x2), -8.6046715e-11f);
    p = __fadd_rn(__fmul_rn(p, x2), 5.122297e-8f);
    p = __fadd_rn(__fmul_rn(p, x2), 1.4857224e-5f);
    p = __fadd_rn(__fmul_rn(p, x2), 6.3726193e-4f);
    p = __fadd_rn(__fmul_rn(p, x2), 4.8935246e-3f);
    p = __fmul_rn(p, x);
    float q = 1.1982584e-6f;
    q = __fadd_rn(__fmul_rn(q, x2), 1.1853471e-4f);
    q = __fadd_rn(__fmul_rn(q, x2), 2.2684346e-3f);
    q = __fadd_rn(__fmul_rn(q, x2), 4.893525e-3f);
    const float r = __fdiv_rn(p, q);
    return fabsf(x) < 4e-4f ? x : r;
}

// One RNN step over n = rows × h values: out[i] = tanh(ih[i] + (hh[i] + b_hh[i % h])), where hh is the
// recurrent product h_{t-1}·W_hhᵀ; with has_prev == 0 (t = 0, h_{-1} = 0) the product is 0 and hh is
// not read.
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) rnn_step(const float* __restrict__ ih, const float* __restrict__ hh,
                                    const float* __restrict__ b_hh, float* __restrict__ out, unsigned int n,
                                    unsigned int h, unsigned int has_prev) {
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const float rec = __fadd_rn(has_prev ? hh[i] : 0.f, b_hh[i % h]);
        out[i] = fast_tanh(__fadd_rn(ih[i], rec));
    }
}

// DIEN between layers: for each of `rows` rows of width h, o += softmax(f) (max-subtracted). One warp
// per row; f is overwritten with the softmax.
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) softmax_add(float* __restrict__ o, float* __restrict__ f, unsigned int rows,
                                       unsigned int h) {
    const unsigned int lane = threadIdx.x & 31u;
    const unsigned long long warps = ((unsigned long long)gridDim.x * blockDim.x) >> 5;
    // Every lane of a warp has the same r, so the whole warp stays in the loop together (full-mask
    // shuffles are safe).
    for (unsigned long long r = ((unsigned long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows;
         r += warps) {
        float* fr = f + (unsigned long long)r * h;
        float* orow = o + (unsigned long long)r * h;
        float m = -__int_as_float(0x7f800000);  // -inf (NVRTC has no math.h)
        for (unsigned int c = lane; c < h; c += 32) {
            m = fmaxf(m, fr[c]);
        }
        for (int s = 16; s > 0; s >>= 1) {
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
        }
        float sum = 0.f;
        for (unsigned int c = lane; c < h; c += 32) {
            const float e = expf(__fadd_rn(fr[c], -m));
            fr[c] = e;
            sum = __fadd_rn(sum, e);
        }
        for (int s = 16; s > 0; s >>= 1) {
            sum = __fadd_rn(sum, __shfl_xor_sync(0xffffffffu, sum, s));
        }
        const float inv = __fdiv_rn(1.0f, sum);
        for (unsigned int c = lane; c < h; c += 32) {
            orow[c] = __fadd_rn(orow[c], __fmul_rn(fr[c], inv));
        }
    }
}

// dst[r * ldd + c] = a[r * lda + c] + b[r * ldb + c] for r < rows, c < cols (NCF's MF branch).
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) add_cols(const float* __restrict__ a, unsigned int lda, const float* __restrict__ b,
                                    unsigned int ldb, float* __restrict__ dst, unsigned int ldd,
                                    unsigned int rows, unsigned int cols) {
    const unsigned long long total = (unsigned long long)rows * cols;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const unsigned int r = (unsigned int)(i / cols);
        const unsigned int c = (unsigned int)(i % cols);
        dst[(unsigned long long)r * ldd + c] =
            __fadd_rn(a[(unsigned long long)r * lda + c], b[(unsigned long long)r * ldb + c]);
    }
}

// DCNv2 cross update over n values: z[i] = x0[i] * v[i] + z[i] (multiply, then add, as on the CPU).
extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) cross_update(const float* __restrict__ x0, const float* __restrict__ v,
                                        float* __restrict__ z, unsigned long long n) {
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        z[i] = __fadd_rn(z[i], __fmul_rn(x0[i], v[i]));
    }
}
