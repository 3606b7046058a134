// Table-batched embedding bag (FBGEMM's TBE semantics): one launch pools every bag of every table.
//
// Bags are numbered bag = t * B + b (table-major). A sub-warp of `lanes` threads pools one bag; each
// lane owns the row chunks c = lane, lane + lanes, ... of 4 values each, read with one 16/8/4-byte
// vector load. A row whose dim is not a multiple of 4 is read as if padded to one: the last chunk's
// extra values come from the row's padding (fp32/fp16: the stride is a multiple of 16 bytes) or from
// its scale (int8), are pooled like the rest, and are never stored. UNROLL rows (2 x UNROLL for
// uniform fp16/int8 tables with one chunk per lane) are loaded before any is accumulated so each lane
// keeps several independent loads in flight. Every lane reads the bag's indices itself: the lanes of a sub-warp read the same
// address, which the hardware serves as one broadcast load (reading them once per warp and shuffling,
// FBGEMM's way, measured no faster: results/gpu/README.md).
//
// Row formats (byte offsets within a row, rows `stride` bytes apart, stride a multiple of 16, so a
// row holds 4 * ceil(dim / 4) values' bytes before the next one starts):
//   fp32: dim f32; fp16: dim IEEE halves; int8: dim u8 codes, then f32 scale, then f32 bias
//   (value = q * scale + bias, FBGEMM's row-wise layout, the same as hercules-kernels).
// Pooling: sum of w_i * row_i (w_i = 1 without weights); mean divides by the bag length; empty bags
// give zeros. int8 adds sum(q * (scale * w)) and sum(bias * w) separately, like the CPU kernels.
// An index >= rows is skipped and its global position recorded with atomicMin in *err (the host
// validates every index before the launch, so this is only a defence).

// Every kernel here is launched with HERCULES_BLOCK threads per block (hercules-gpu's BLOCK_THREADS,
// passed as -DHERCULES_BLOCK by the compile): __launch_bounds__ lets the compiler budget registers for
// that block size, and a launch with more threads fails instead of running with too few registers.
#ifndef HERCULES_BLOCK
#define HERCULES_BLOCK 256
#endif

struct TableMeta {
    unsigned long long ptr;   // device address of row 0
    unsigned long long rows;  // rows in the table
    unsigned int stride;      // bytes between rows
    unsigned int dim;         // values per row
    unsigned int dtype;       // 0 fp32, 1 fp16, 2 int8
    unsigned int out_col;     // first output column of this table
    unsigned int flags;       // bit 0: mean pooling
    unsigned int pad;
};

#define DT_F32 0u
#define DT_F16 1u
#define DT_I8 2u
#define F_MEAN 1u
#define UNROLL 8

__device__ __forceinline__ float h2f(unsigned short h) {
#ifdef HERCULES_HOST_SHIM
    return hercules_shim_h2f(h);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#endif
}

// Chunk c of a row as the raw bits it is stored in (fp32: 4 words; fp16: 2; int8: 1). Rows are loaded
// raw and unpacked when accumulated, so a row in flight holds only the registers its bytes need and
// narrow rows can keep more rows in flight per lane.
__device__ __forceinline__ uint4 load_raw(const unsigned char* __restrict__ row, unsigned int dtype, unsigned int c) {
    uint4 r = make_uint4(0u, 0u, 0u, 0u);
    if (dtype == DT_F32) {
        r = __ldg(reinterpret_cast<const uint4*>(row) + c);
    } else if (dtype == DT_F16) {
        const uint2 h = __ldg(reinterpret_cast<const uint2*>(row) + c);
        r.x = h.x;
        r.y = h.y;
    } else {
        r.x = __ldg(reinterpret_cast<const unsigned int*>(row) + c);
    }
    return r;
}

// A raw chunk as 4 floats (int8: the codes, unscaled).
__device__ __forceinline__ float4 unpack(uint4 r, unsigned int dtype) {
    if (dtype == DT_F32) {
        return make_float4(__uint_as_float(r.x), __uint_as_float(r.y), __uint_as_float(r.z),
                           __uint_as_float(r.w));
    }
    if (dtype == DT_F16) {
        return make_float4(h2f((unsigned short)(r.x & 0xffffu)), h2f((unsigned short)(r.x >> 16)),
                           h2f((unsigned short)(r.y & 0xffffu)), h2f((unsigned short)(r.y >> 16)));
    }
    return make_float4((float)(r.x & 0xffu), (float)((r.x >> 8) & 0xffu), (float)((r.x >> 16) & 0xffu),
                       (float)(r.x >> 24));
}

// The f32 stored at byte `off` of a row, whatever its alignment.
__device__ __forceinline__ float load_f32_at(const unsigned char* __restrict__ row, unsigned int off) {
    if ((off & 3u) == 0u) {
        return __ldg(reinterpret_cast<const float*>(row + off));
    }
    unsigned int b = (unsigned int)__ldg(row + off) | ((unsigned int)__ldg(row + off + 1) << 8) |
                     ((unsigned int)__ldg(row + off + 2) << 16) | ((unsigned int)__ldg(row + off + 3) << 24);
    return __uint_as_float(b);
}

// FAST >= 0: every table has dtype FAST, known at compile time (no per-row branches); FAST < 0: the
// dtype is read per table from its metadata.
template <typename I, int MAXK, int FAST>
__device__ __forceinline__ void tbe(const TableMeta* __restrict__ meta, const I* __restrict__ indices,
                                    const unsigned int* __restrict__ offsets,
                                    const float* __restrict__ weights, float* __restrict__ out,
                                    unsigned int out_stride, unsigned int col_base, unsigned int B,
                                    unsigned int T, unsigned int lanes, unsigned long long* err) {
    // Rows in flight per lane: narrow rows (fp16, int8) hold fewer registers each, so twice as many.
    constexpr int UNR = (MAXK == 1 && (FAST == 1 || FAST == 2)) ? 2 * UNROLL : UNROLL;
    const unsigned long long gtid = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned long long bag = gtid / lanes;
    const unsigned int lane = (unsigned int)(gtid % lanes);
    if (bag >= (unsigned long long)T * B) {
        return;
    }
    const unsigned int t = (unsigned int)(bag / B);
    const unsigned int b = (unsigned int)(bag % B);
    const TableMeta m = meta[t];
    const unsigned int dtype = FAST >= 0 ? (unsigned int)FAST : m.dtype;
    const unsigned int nchunks = (m.dim + 3u) / 4u;
    const unsigned int s = offsets[bag];
    const unsigned int e = offsets[bag + 1];
    const unsigned char* __restrict__ base = reinterpret_cast<const unsigned char*>(m.ptr);
    float* o = out + (unsigned long long)b * out_stride + col_base + m.out_col;
    const bool store4 = (m.dim & 3u) == 0u && (reinterpret_cast<unsigned long long>(o) & 15ull) == 0ull;
    const float inv = ((m.flags & F_MEAN) != 0u && e > s) ? 1.0f / (float)(e - s) : 1.0f;

    for (unsigned int pass = 0; pass < nchunks; pass += lanes * MAXK) {
        float4 acc[MAXK];
#pragma unroll
        for (int k = 0; k < MAXK; ++k) {
            acc[k] = make_float4(0.f, 0.f, 0.f, 0.f);
        }
        float bias_acc = 0.f;
        for (unsigned int i = s; i < e; i += UNR) {
            const unsigned int n = min((unsigned int)UNR, e - i);
            const unsigned char* rows[UNR];
            float w[UNR];
#pragma unroll
            for (int u = 0; u < UNR; ++u) {
                rows[u] = base;
                w[u] = 0.f;
                if ((unsigned int)u < n) {
                    const unsigned long long idx = (unsigned long long)indices[i + u];
                    if (idx < m.rows) {
                        rows[u] = base + idx * m.stride;
                        w[u] = weights ? weights[i + u] : 1.0f;
                    } else if (lane == 0u && pass == 0u) {
                        atomicMin(err, (unsigned long long)(i + u));
                    }
                }
            }
            // Every load of the UNR rows (int8: with their scale and bias) is issued before any is used.
            uint4 v[UNR][MAXK];
            float2 sb[UNR];
#pragma unroll
            for (int u = 0; u < UNR; ++u) {
                const bool live = (unsigned int)u < n;
                sb[u] = (dtype == DT_I8 && live)
                            ? make_float2(load_f32_at(rows[u], m.dim), load_f32_at(rows[u], m.dim + 4u))
                            : make_float2(0.f, 0.f);
#pragma unroll
                for (int k = 0; k < MAXK; ++k) {
                    const unsigned int c = pass + lane + (unsigned int)k * lanes;
                    v[u][k] = (live && c < nchunks) ? load_raw(rows[u], dtype, c) : make_uint4(0u, 0u, 0u, 0u);
                }
            }
#pragma unroll
            for (int u = 0; u < UNR; ++u) {
                float wr = w[u];
                if (dtype == DT_I8) {
                    bias_acc += sb[u].y * w[u];
                    wr = sb[u].x * w[u];
                }
#pragma unroll
                for (int k = 0; k < MAXK; ++k) {
                    const float4 x = unpack(v[u][k], dtype);
                    acc[k].x += x.x * wr;
                    acc[k].y += x.y * wr;
                    acc[k].z += x.z * wr;
                    acc[k].w += x.w * wr;
                }
            }
        }
#pragma unroll
        for (int k = 0; k < MAXK; ++k) {
            const unsigned int c = pass + lane + (unsigned int)k * lanes;
            if (c >= nchunks) {
                continue;
            }
            float4 r;
            r.x = (acc[k].x + bias_acc) * inv;
            r.y = (acc[k].y + bias_acc) * inv;
            r.z = (acc[k].z + bias_acc) * inv;
            r.w = (acc[k].w + bias_acc) * inv;
            if (store4) {
                reinterpret_cast<float4*>(o)[c] = r;
            } else {
                // Only the row's own columns: the padding's values stay out of the next table's.
                const unsigned int n4 = min(4u, m.dim - 4u * c);
                o[4 * c] = r.x;
                if (n4 > 1u) o[4 * c + 1] = r.y;
                if (n4 > 2u) o[4 * c + 2] = r.z;
                if (n4 > 3u) o[4 * c + 3] = r.w;
            }
        }
    }
}

#define TBE_ENTRY(NAME, I, K, FAST)                                                                  \
    extern "C" __global__ void __launch_bounds__(HERCULES_BLOCK) NAME(const TableMeta* __restrict__ meta, const I* __restrict__ indices, \
                                    const unsigned int* __restrict__ offsets,                        \
                                    const float* __restrict__ weights, float* __restrict__ out,       \
                                    unsigned int out_stride, unsigned int col_base, unsigned int B,   \
                                    unsigned int T, unsigned int lanes, unsigned long long* err) {    \
        tbe<I, K, FAST>(meta, indices, offsets, weights, out, out_stride, col_base, B, T, lanes, err); \
    }

// Names: tbe_<index type>_k<chunks per lane>_<f32|f16|i8 (every table of that dtype) | any>.
#define TBE_FAMILY(I, IN, K)                        \
    TBE_ENTRY(tbe_##IN##_k##K##_f32, I, K, 0)       \
    TBE_ENTRY(tbe_##IN##_k##K##_f16, I, K, 1)       \
    TBE_ENTRY(tbe_##IN##_k##K##_i8, I, K, 2)        \
    TBE_ENTRY(tbe_##IN##_k##K##_any, I, K, -1)

TBE_FAMILY(unsigned int, u32, 1)
TBE_FAMILY(unsigned int, u32, 4)
TBE_FAMILY(unsigned long long, u64, 1)
TBE_FAMILY(unsigned long long, u64, 4)
