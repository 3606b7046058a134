// Host check of the table-batched embedding bag of ../../src/cu/embedding.cu: every specialisation
// (u32/u64 indices, 1 or 4 chunks per lane, fp32/fp16/int8/mixed tables) on random tables in the
// device row layout, dims 1..70 (most not a multiple of 4, so the padded last chunk is exercised),
// ragged and empty bags, per-sample weights, mean pooling and an out-of-range index, against a
// double-precision reference. Each launch runs its grid one thread at a time (the kernel has no
// barriers or shuffles). Run by ../cu_on_host.rs with the system C++ compiler.
#include "shim.h"
#include "../../src/cu/embedding.cu"
#include <climits>
#include <cstdint>
#include <random>
#include <vector>

static int fails = 0;
static int checked = 0;
#define CHECK(c, ...) do { checked++; if (!(c)) { if (fails++ < 20) { printf(__VA_ARGS__); printf("\n"); } } } while (0)

struct Table {
    unsigned dtype, dim, stride;
    unsigned long long rows;
    bool mean;
    std::vector<unsigned char> bytes;
};

// The device layout (hercules-gpu's device_row_stride): the packed row rounded up to 16 bytes.
static unsigned stride_of(unsigned dtype, unsigned dim) {
    unsigned packed = dtype == DT_F32 ? 4 * dim : dtype == DT_F16 ? 2 * dim : dim + 8;
    return (packed + 15) / 16 * 16;
}

// Value j of row r, read from the bytes the way the layout is documented (not through the kernel's code).
static double value(const Table& t, unsigned long long r, unsigned j) {
    const unsigned char* row = &t.bytes[r * t.stride];
    if (t.dtype == DT_F32) { float f; memcpy(&f, row + 4 * j, 4); return f; }
    if (t.dtype == DT_F16) {
        uint16_t h; memcpy(&h, row + 2 * j, 2);
        double v = ldexp(1024.0 + (h & 1023), ((h >> 10) & 31) - 25);  // the generator makes normals only
        return (h & 0x8000) ? -v : v;
    }
    float scale, bias; memcpy(&scale, row + t.dim, 4); memcpy(&bias, row + t.dim + 4, 4);
    return (double)row[j] * scale + bias;
}

static Table make_table(std::mt19937_64& g, unsigned dtype, unsigned dim, bool mean) {
    Table t{dtype, dim, stride_of(dtype, dim), 1 + g() % 60, mean, {}};
    t.bytes.assign(t.rows * t.stride, 0);
    std::uniform_real_distribution<float> U(-1, 1);
    for (unsigned long long r = 0; r < t.rows; r++) {
        unsigned char* row = &t.bytes[r * t.stride];
        for (unsigned j = 0; j < dim; j++) {
            if (dtype == DT_F32) { float f = U(g); memcpy(row + 4 * j, &f, 4); }
            else if (dtype == DT_F16) {
                uint16_t h = (uint16_t)(((g() & 1) << 15) | ((12 + g() % 5) << 10) | (g() & 1023));
                memcpy(row + 2 * j, &h, 2);
            } else row[j] = (unsigned char)(g() & 255);
        }
        if (dtype == DT_I8) {
            float scale = 0.001f + 0.01f * (U(g) + 1), bias = 0.1f * U(g);
            memcpy(row + dim, &scale, 4); memcpy(row + dim + 4, &bias, 4);  // unaligned where dim % 4 != 0
        }
    }
    return t;
}

template <typename I, int K, int FAST>
static void launch(const std::vector<TableMeta>& meta, const std::vector<I>& idx, const std::vector<unsigned>& offs,
                   const float* w, float* out, unsigned ld, unsigned col, unsigned B, unsigned T, unsigned lanes,
                   unsigned long long* err) {
    unsigned long long threads = (unsigned long long)T * B * lanes;
    unsigned blocks = (unsigned)((threads + HERCULES_BLOCK - 1) / HERCULES_BLOCK);
    blockDim.x = HERCULES_BLOCK;
    gridDim.x = blocks;
    for (unsigned b = 0; b < blocks; b++)
        for (unsigned th = 0; th < HERCULES_BLOCK; th++) {
            blockIdx.x = b; threadIdx.x = th;
            tbe<I, K, FAST>(meta.data(), idx.data(), offs.data(), w, out, ld, col, B, T, lanes, err);
        }
    blockDim.x = 1; gridDim.x = 1; blockIdx.x = 0; threadIdx.x = 0;
}

template <typename I, int K>
static void launch_variant(int variant, const std::vector<TableMeta>& meta, const std::vector<I>& idx,
                           const std::vector<unsigned>& offs, const float* w, float* out, unsigned ld, unsigned col,
                           unsigned B, unsigned T, unsigned lanes, unsigned long long* err) {
    switch (variant) {
        case 0: launch<I, K, 0>(meta, idx, offs, w, out, ld, col, B, T, lanes, err); break;
        case 1: launch<I, K, 1>(meta, idx, offs, w, out, ld, col, B, T, lanes, err); break;
        case 2: launch<I, K, 2>(meta, idx, offs, w, out, ld, col, B, T, lanes, err); break;
        default: launch<I, K, -1>(meta, idx, offs, w, out, ld, col, B, T, lanes, err); break;
    }
}

template <typename I>
static void run_case(std::mt19937_64& g, int c) {
    const unsigned T = 1 + g() % 4, B = g() % 8;
    const bool mixed = c % 3 == 0, weighted = c % 2 == 1, bad = c % 5 == 2;
    const unsigned dtype0 = g() % 3;
    std::vector<Table> tables;
    unsigned width = 0;
    for (unsigned t = 0; t < T; t++) {
        unsigned dtype = mixed ? g() % 3 : dtype0;
        unsigned dim = c % 7 == 0 ? 129 + g() % 140 : 1 + g() % 70;  // over 128: 4 chunks per lane
        tables.push_back(make_table(g, dtype, dim, g() % 3 == 0));
        width += dim;
    }
    const unsigned col = 1 + g() % 3, ld = width + col + g() % 3;
    std::vector<TableMeta> meta;
    unsigned out_col = 0, max_chunks = 1;
    for (auto& t : tables) {
        meta.push_back({(unsigned long long)(uintptr_t)t.bytes.data(), t.rows, t.stride, t.dim, t.dtype, out_col,
                        t.mean ? F_MEAN : 0u, 0u});
        out_col += t.dim;
        max_chunks = std::max(max_chunks, (t.dim + 3) / 4);
    }
    // Bags: table-major, lengths 0..20 (empty ones included), then one index past its table if `bad`.
    std::vector<I> idx;
    std::vector<unsigned> offs;
    std::vector<float> w;
    std::uniform_real_distribution<float> U(-1, 1);
    for (unsigned t = 0; t < T; t++)
        for (unsigned b = 0; b < B; b++) {
            offs.push_back((unsigned)idx.size());
            unsigned len = g() % 4 == 0 ? 0 : g() % 21;
            for (unsigned i = 0; i < len; i++) { idx.push_back((I)(g() % tables[t].rows)); w.push_back(U(g)); }
        }
    offs.push_back((unsigned)idx.size());
    unsigned long long want_err = ULLONG_MAX;
    if (bad && !idx.empty()) {
        size_t p = g() % idx.size();
        unsigned t = 0;
        while (offs[(t + 1) * B] <= p) t++;
        idx[p] = (I)(tables[t].rows + g() % 3);
        want_err = p;
    }
    // Reference, in double; an out-of-range row adds nothing (and a mean still counts it).
    std::vector<double> ref((size_t)B * ld, -777.0), mag((size_t)B * ld, 0.0);
    for (unsigned t = 0, oc = 0; t < T; oc += tables[t].dim, t++)
        for (unsigned b = 0; b < B; b++) {
            unsigned s = offs[t * B + b], e = offs[t * B + b + 1];
            for (unsigned j = 0; j < tables[t].dim; j++) {
                double acc = 0, m = 0;
                for (unsigned i = s; i < e; i++) {
                    if ((unsigned long long)idx[i] >= tables[t].rows) continue;
                    double term = (weighted ? w[i] : 1.0) * value(tables[t], idx[i], j);
                    acc += term; m += fabs(term);
                }
                if (tables[t].mean && e > s) { acc /= (e - s); m /= (e - s); }
                ref[(size_t)b * ld + col + oc + j] = acc;
                mag[(size_t)b * ld + col + oc + j] = m;
            }
        }
    unsigned lanes = 1;
    while (lanes < max_chunks && lanes < 32) lanes *= 2;
    const int want_k = max_chunks > lanes ? 4 : 1;
    int variant = mixed ? 3 : (int)dtype0;
    // The generic variant must agree too, whatever the tables; and both chunk counts per lane.
    for (int v : {variant, 3})
        for (int k : {1, 4}) {
            std::vector<float> out((size_t)B * ld, -777.f);
            unsigned long long err = ULLONG_MAX;
            const float* wp = weighted ? w.data() : nullptr;
            if (k == 1) launch_variant<I, 1>(v, meta, idx, offs, wp, out.data(), ld, col, B, T, lanes, &err);
            else launch_variant<I, 4>(v, meta, idx, offs, wp, out.data(), ld, col, B, T, lanes, &err);
            for (size_t i = 0; i < out.size(); i++) {
                double tol = 2e-6 * mag[i] + 1e-6;
                CHECK(fabs(out[i] - ref[i]) <= tol, "case %d (%s, variant %d, k %d, want k %d, lanes %u): out[%zu] = %.7g, want %.7g",
                      c, sizeof(I) == 4 ? "u32" : "u64", v, k, want_k, lanes, i, out[i], ref[i]);
            }
            CHECK(err == want_err, "case %d: error position %llu, want %llu", c, err, want_err);
        }
}

int main() {
    std::mt19937_64 g(7);
    for (int c = 0; c < 300; c++) {
        if (c % 2) run_case<unsigned int>(g, c);
        else run_case<unsigned long long>(g, c);
    }
    printf("embedding.cu on the host: %d checks, %d failed\n", checked, fails);
    return fails ? 1 : 0;
}
