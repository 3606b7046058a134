// Host check of the kernels of ../../src/cu/blocks.cu against references written from the CPU model
// (models/src/blocks/): run by ../cu_on_host.rs with the system C++ compiler.
#include "shim.h"
#include "../../src/cu/blocks.cu"
#include <vector>
#include <random>
#include <cassert>
int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf(__VA_ARGS__); printf("\n"); } } while (0)
int main() {
    std::mt19937 g(1); std::uniform_real_distribution<float> U(-1, 1);
    auto rnd = [&](size_t n) { std::vector<float> v(n); for (auto& x : v) x = U(g); return v; };
    // din_unit_input
    { unsigned rows = 5, d = 4, units = 3, ldp = 40, beh = 4, q = 30;
      auto p = rnd(rows * ldp); std::vector<float> x(units * rows * 3 * d, -9);
      din_unit_input(p.data(), ldp, beh, q, d, units, rows, x.data());
      for (unsigned u = 0; u < units; u++) for (unsigned r = 0; r < rows; r++) for (unsigned j = 0; j < d; j++) {
        float b = p[r * ldp + beh + u * d + j], qq = p[r * ldp + q + j];
        const float* row = &x[(u * rows + r) * 3 * d];
        CHECK(row[j] == b && row[d + j] == qq && row[2 * d + j] == b + qq, "din u%u r%u j%u", u, r, j);
      } }
    // unit_bias_act + sum_units
    { unsigned units = 3, rows = 4, n = 5; auto y = rnd(units * rows * n), bias = rnd(units * n); auto y0 = y;
      unit_bias_act(y.data(), bias.data(), units, rows, n, 1);
      for (unsigned u = 0; u < units; u++) for (unsigned r = 0; r < rows; r++) for (unsigned c = 0; c < n; c++) {
        size_t i = (u * rows + r) * n + c; CHECK(y[i] == fmaxf(y0[i] + bias[u * n + c], 0.f), "uba");
      }
      unsigned ldd = 9; std::vector<float> dst(rows * ldd, -7);
      sum_units(y.data(), units, rows, n, dst.data() + 2, ldd);
      for (unsigned r = 0; r < rows; r++) for (unsigned c = 0; c < n; c++) {
        float acc = 0; for (unsigned u = 0; u < units; u++) acc += y[(u * rows + r) * n + c];
        CHECK(dst[r * ldd + 2 + c] == acc, "sum r%u c%u", r, c);
      }
      CHECK(dst[0] == -7 && dst[1] == -7 && dst[7] == -7, "sum_units wrote outside"); }
    // gather_steps
    { unsigned rows = 3, d = 2, steps = 4, ldp = 20, col = 6; auto p = rnd(rows * ldp); std::vector<float> s(steps * rows * d);
      gather_steps(p.data(), ldp, col, d, steps, rows, s.data());
      for (unsigned t = 0; t < steps; t++) for (unsigned r = 0; r < rows; r++) for (unsigned j = 0; j < d; j++)
        CHECK(s[(t * rows + r) * d + j] == p[r * ldp + col + t * d + j], "gather"); }
    // rnn_step + fast_tanh
    { unsigned rows = 3, h = 4, n = rows * h; auto ih = rnd(n), hh = rnd(n), b = rnd(h); std::vector<float> o(n);
      rnn_step(ih.data(), hh.data(), b.data(), o.data(), n, h, 1);
      for (unsigned i = 0; i < n; i++) CHECK(fabs(o[i] - tanh(ih[i] + (hh[i] + b[i % h]))) < 2e-6, "rnn %u", i);
      rnn_step(ih.data(), nullptr, b.data(), o.data(), n, h, 0);
      for (unsigned i = 0; i < n; i++) CHECK(fabs(o[i] - tanh(ih[i] + b[i % h])) < 2e-6, "rnn0 %u", i);
      double worst = 0; for (int i = -200000; i <= 200000; i++) { float x = i * 1e-4f; double a = fast_tanh(x), e = tanh((double)x);
        worst = fmax(worst, fabs(a - e) / fmax(fabs(e), 1e-30)); }
      CHECK(worst < 2e-6, "fast_tanh worst %g", worst); printf("fast_tanh worst rel %g\n", worst); }
    // add_cols, cross_update
    { unsigned rows = 3, cols = 4; auto a = rnd(rows * 10), b = rnd(rows * 7); std::vector<float> d(rows * 12, -5);
      add_cols(a.data() + 1, 10, b.data() + 2, 7, d.data() + 3, 12, rows, cols);
      for (unsigned r = 0; r < rows; r++) for (unsigned c = 0; c < cols; c++) CHECK(d[r * 12 + 3 + c] == a[r * 10 + 1 + c] + b[r * 7 + 2 + c], "add");
      auto x0 = rnd(12), v = rnd(12), z = rnd(12); auto z0 = z; cross_update(x0.data(), v.data(), z.data(), 12);
      for (int i = 0; i < 12; i++) CHECK(z[i] == z0[i] + x0[i] * v[i], "cross"); }
    // softmax_add: one warp, rows of h > 32 and h < 32 (CPU: max-subtracted exp, sum, o += e / sum)
    for (unsigned h : {40u, 7u}) {
        unsigned rows = 5; auto o = rnd(rows * h), f = rnd(rows * h); auto o0 = o, f0 = f;
        for (auto& v : f) v *= 8.f;
        f0 = f;
        run_warp([&] { softmax_add(o.data(), f.data(), rows, h); });
        for (unsigned r = 0; r < rows; r++) {
            float m = -INFINITY; for (unsigned c = 0; c < h; c++) m = fmaxf(m, f0[r * h + c]);
            std::vector<float> e(h); float sum = 0; for (unsigned c = 0; c < h; c++) { e[c] = expf(f0[r * h + c] - m); sum += e[c]; }
            float inv = 1.f / sum;
            for (unsigned c = 0; c < h; c++) {
                float want = o0[r * h + c] + e[c] * inv;
                CHECK(fabsf(o[r * h + c] - want) <= 1e-6f * fmaxf(1.f, fabsf(want)), "softmax h%u r%u c%u: %g vs %g", h, r, c, o[r * h + c], want);
            }
        }
    }
    // grid-stride with several blocks/threads: din_unit_input over a 2 x 3 launch
    { unsigned rows = 7, d = 3, units = 5, ldp = 30, beh = 0, q = 27; auto p = rnd(rows * ldp);
      std::vector<float> x(units * rows * 3 * d, -9), y(units * rows * 3 * d, -9);
      din_unit_input(p.data(), ldp, beh, q, d, units, rows, x.data());
      gridDim.x = 2; blockDim.x = 3;
      for (unsigned bb = 0; bb < 2; bb++) for (unsigned t = 0; t < 3; t++) { blockIdx.x = bb; threadIdx.x = t; din_unit_input(p.data(), ldp, beh, q, d, units, rows, y.data()); }
      CHECK(x == y, "grid-stride coverage"); gridDim.x = 1; blockDim.x = 1; blockIdx.x = 0; threadIdx.x = 0; }
    printf("%s (%d failures)\n", fails ? "FAIL" : "ok", fails);
    return fails != 0;
}
