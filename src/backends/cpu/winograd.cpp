#include "backends/cpu/winograd.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace websd::cpu {
namespace {

constexpr int64_t kXi = 36;                 // positions of the 6×6 transform
constexpr size_t kBandBytes = 32u << 20;    // V and M of one band of tile rows...
constexpr int64_t kMinBandTiles = 256;      // ...but never so few tiles that the sgemms get narrow

struct Geometry {
  int64_t C, O, H, W, tiles_w, tiles_h, band_rows;
};

Geometry geometry(const Node& n, const Shape& ws, int band_rows) {
  Geometry g{ws[1], ws[0], n.shape[2], n.shape[3], (n.shape[3] + 3) / 4, (n.shape[2] + 3) / 4, 0};
  const int64_t tile_bytes = kXi * (g.C + g.O) * int64_t(sizeof(float));
  const int64_t by_bytes = int64_t(kBandBytes) / (tile_bytes * g.tiles_w);
  const int64_t by_width = (kMinBandTiles + g.tiles_w - 1) / g.tiles_w;
  g.band_rows = std::clamp<int64_t>(band_rows > 0 ? band_rows : std::max(by_bytes, by_width), 1, g.tiles_h);
  return g;
}

// The three 1-D transforms of F(4, 3), each applied along columns and then along rows.
// Bᵀ d for a 6-long input run.
inline void input_1d(float d0, float d1, float d2, float d3, float d4, float d5, float* v, int64_t stride) {
  v[0] = 4 * d0 - 5 * d2 + d4;
  v[stride] = -4 * (d1 + d2) + d3 + d4;
  v[2 * stride] = 4 * (d1 - d2) - d3 + d4;
  v[3 * stride] = 2 * (d3 - d1) - d2 + d4;
  v[4 * stride] = 2 * (d1 - d3) - d2 + d4;
  v[5 * stride] = 4 * d1 - 5 * d3 + d5;
}
// G g for a 3-long filter run.
inline void filter_1d(float g0, float g1, float g2, float* u, int64_t stride) {
  u[0] = g0 / 4;
  u[stride] = -(g0 + g1 + g2) / 6;
  u[2 * stride] = -(g0 - g1 + g2) / 6;
  u[3 * stride] = g0 / 24 + g1 / 12 + g2 / 6;
  u[4 * stride] = g0 / 24 - g1 / 12 + g2 / 6;
  u[5 * stride] = g2;
}
// Aᵀ m for a 6-long product run.
inline void output_1d(float m0, float m1, float m2, float m3, float m4, float m5, float* y, int64_t stride) {
  y[0] = m0 + m1 + m2 + m3 + m4;
  y[stride] = (m1 - m2) + 2 * (m3 - m4);
  y[2 * stride] = (m1 + m2) + 4 * (m3 + m4);
  y[3 * stride] = (m1 - m2) + 8 * (m3 - m4) + m5;
}

// U[ξ][o][c] = (G g Gᵀ)[ξ] for every filter g = w[o][c]: each output channel's filters expanded as one run, then
// transformed kBlock input channels at a time with every loop running along the channels (vectorised).
void transform_filters(const KernelArgs& a, const Geometry& g, float* U) {
  constexpr int64_t kBlock = 16;
  const WeightData* stored = a.weight(1);
  const float* plain = stored ? nullptr : a.in_f32(1);
  const int64_t OC = g.O * g.C;
  a.pool.parallel_for(g.O, [&](int64_t lo, int64_t hi, int) {
    std::vector<float> row(size_t(g.C * 9));
    float w[9][kBlock], t[18][kBlock], u[36][kBlock];
    for (int64_t o = lo; o < hi; ++o) {
      if (stored)
        expand_weight(*stored, size_t(o * g.C * 9), row.size(), row.data());
      else
        std::memcpy(row.data(), plain + o * g.C * 9, row.size() * sizeof(float));
      for (int64_t c0 = 0; c0 < g.C; c0 += kBlock) {
        const int64_t n = std::min(kBlock, g.C - c0);
        for (int k = 0; k < 9; ++k)
          for (int64_t cc = 0; cc < kBlock; ++cc) w[k][cc] = cc < n ? row[size_t((c0 + cc) * 9 + k)] : 0.0f;
        for (int j = 0; j < 3; ++j)  // t = G g: down the filter's columns
          for (int64_t cc = 0; cc < kBlock; ++cc) filter_1d(w[j][cc], w[3 + j][cc], w[6 + j][cc], &t[j][cc], 3 * kBlock);
        for (int i = 0; i < 6; ++i)  // u = t Gᵀ: along its rows
          for (int64_t cc = 0; cc < kBlock; ++cc)
            filter_1d(t[i * 3][cc], t[i * 3 + 1][cc], t[i * 3 + 2][cc], &u[i * 6][cc], kBlock);
        for (int x = 0; x < kXi; ++x) std::memcpy(U + x * OC + o * g.C + c0, u[x], size_t(n) * sizeof(float));
      }
    }
  });
}

// V[ξ][c][t] for the tiles t of tile rows [row0, row0 + rows) of one image, computed for a whole row of tiles at
// once so that every loop runs along the tiles (vectorised). A tile's window starts at input column 4·tc − 1:
// with the row padded by one zero in front (u = x + 1) and split by u mod 4 into phases p[r][q] = row[4q + r],
// its six columns are p[0..3][tc], p[0][tc + 1], p[1][tc + 1], contiguous across tiles.
void transform_inputs(const KernelArgs& a, const Geometry& g, const float* x, int64_t row0, int64_t rows, float* V) {
  const int64_t T = rows * g.tiles_w, CT = g.C * T, tw = g.tiles_w, Q = tw + 1, PQ = 4 * Q;
  a.pool.parallel_for(g.C, [&](int64_t lo, int64_t hi, int) {
    std::vector<float> phases(size_t(6 * PQ)), cols(size_t(6 * PQ));
    for (int64_t c = lo; c < hi; ++c) {
      const float* xc = x + c * g.H * g.W;
      for (int64_t tr = 0; tr < rows; ++tr) {
        const int64_t y0 = (row0 + tr) * 4 - 1;
        for (int i = 0; i < 6; ++i) {  // the window's six input rows, padded and split into phases
          float* p = phases.data() + i * PQ;
          const int64_t y = y0 + i;
          if (y < 0 || y >= g.H) {
            std::fill(p, p + PQ, 0.0f);
            continue;
          }
          const float* src = xc + y * g.W;
          for (int r = 0; r < 4; ++r)
            for (int64_t q = 0; q < Q; ++q) {
              const int64_t xx = 4 * q + r - 1;
              p[r * Q + q] = xx >= 0 && xx < g.W ? src[xx] : 0.0f;
            }
        }
        const float *p0 = phases.data(), *p1 = p0 + PQ, *p2 = p1 + PQ, *p3 = p2 + PQ, *p4 = p3 + PQ, *p5 = p4 + PQ;
        for (int64_t e = 0; e < PQ; ++e)  // Bᵀ down the columns
          input_1d(p0[e], p1[e], p2[e], p3[e], p4[e], p5[e], cols.data() + e, PQ);
        for (int k = 0; k < 6; ++k) {  // then along each row of the windows, every tile at once
          const float* t = cols.data() + k * PQ;
          float* v = V + (k * 6) * CT + c * T + tr * tw;
          for (int64_t tc = 0; tc < tw; ++tc)
            input_1d(t[tc], t[Q + tc], t[2 * Q + tc], t[3 * Q + tc], t[tc + 1], t[Q + tc + 1], v + tc, CT);
        }
      }
    }
  });
}

// y[o] over the band's tiles = Aᵀ M A + bias, clipped to the image; like the inputs, a whole row of tiles at once.
void transform_outputs(const KernelArgs& a, const Geometry& g, const float* M, int64_t row0, int64_t rows,
                       const std::vector<float>& bias, float* y) {
  const int64_t T = rows * g.tiles_w, OT = g.O * T, tw = g.tiles_w;
  a.pool.parallel_for(g.O, [&](int64_t lo, int64_t hi, int) {
    std::vector<float> s(size_t(24 * tw)), out(size_t(16 * tw)), line(size_t(4 * tw));
    for (int64_t o = lo; o < hi; ++o) {
      const float b = bias.empty() ? 0.0f : bias[size_t(o)];
      float* yo = y + o * g.H * g.W;
      for (int64_t tr = 0; tr < rows; ++tr) {
        const float* m = M + o * T + tr * tw;
        for (int j = 0; j < 6; ++j) {  // Aᵀ down the columns: s[r][j][tc]
          const float *m0 = m + j * OT, *m1 = m0 + 6 * OT, *m2 = m1 + 6 * OT, *m3 = m2 + 6 * OT, *m4 = m3 + 6 * OT,
                      *m5 = m4 + 6 * OT;
          for (int64_t tc = 0; tc < tw; ++tc)
            output_1d(m0[tc], m1[tc], m2[tc], m3[tc], m4[tc], m5[tc], s.data() + j * tw + tc, 6 * tw);
        }
        for (int r = 0; r < 4; ++r) {  // then along the rows: out[r][col][tc]
          const float* sr = s.data() + r * 6 * tw;
          for (int64_t tc = 0; tc < tw; ++tc)
            output_1d(sr[tc], sr[tw + tc], sr[2 * tw + tc], sr[3 * tw + tc], sr[4 * tw + tc], sr[5 * tw + tc],
                      out.data() + r * 4 * tw + tc, tw);
        }
        const int64_t oy = (row0 + tr) * 4;
        for (int64_t r = 0; r < std::min<int64_t>(4, g.H - oy); ++r) {
          const float* o4 = out.data() + r * 4 * tw;
          for (int col = 0; col < 4; ++col)
            for (int64_t tc = 0; tc < tw; ++tc) line[size_t(4 * tc + col)] = o4[col * tw + tc] + b;
          std::memcpy(yo + (oy + r) * g.W, line.data(), size_t(g.W) * sizeof(float));
        }
      }
    }
  });
}

}  // namespace

bool winograd_applies(const Node& n, const Shape& ws) {
  return ws[2] == 3 && ws[3] == 3 && n.p.stride == 1 && n.p.pad == 1 && n.p.pad_end == 1;
}

bool winograd_wins(const Node& n, const Shape& ws) {
  return winograd_applies(n, ws) && ws[0] >= 64 && ws[1] >= 64 && n.shape[2] * n.shape[3] >= 32 * 32;
}

size_t winograd_scratch_bytes(const Node& n, const Shape& ws, int band_rows) {
  const Geometry g = geometry(n, ws, band_rows);
  const int64_t T = g.band_rows * g.tiles_w;
  return size_t(kXi * (g.O * g.C + g.C * T + g.O * T)) * sizeof(float);
}

void conv3x3_winograd(const KernelArgs& a) {
  const Geometry g = geometry(a.n, a.input_shape(1), a.choice.winograd_band_rows);
  const int64_t B = a.input_shape(0)[0], Tmax = g.band_rows * g.tiles_w;
  float* U = static_cast<float*>(a.scratch);
  float* V = U + kXi * g.O * g.C;
  float* M = V + kXi * g.C * Tmax;
  transform_filters(a, g, U);
  const std::vector<float> bias = has_bias(a.n) ? small_param_f32(a, 2) : std::vector<float>();
  // The 36 products are independent: each thread takes whole ones (single-threaded sgemms) where there are
  // enough of them to share out evenly, else every product is threaded.
  const bool by_product = a.pool.size() * 4 <= kXi;
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = a.in_f32(0) + b * g.C * g.H * g.W;
    float* yb = a.out_f32() + b * g.O * g.H * g.W;
    for (int64_t row0 = 0; row0 < g.tiles_h; row0 += g.band_rows) {
      const int64_t rows = std::min(g.band_rows, g.tiles_h - row0), T = rows * g.tiles_w;
      transform_inputs(a, g, xb, row0, rows, V);
      const int64_t OC = g.O * g.C, CT = g.C * T, OT = g.O * T;
      if (by_product) {
        const Gemm::SerialScope serial(a.gemm);
        a.pool.parallel_for(kXi, [&](int64_t lo, int64_t hi, int) {
          for (int64_t x = lo; x < hi; ++x)
            a.gemm.serial(serial, Trans::kNo, Trans::kNo, g.O, T, g.C, U + x * OC, g.C, V + x * CT, T, M + x * OT, T,
                          false);
        });
      } else {
        for (int64_t x = 0; x < kXi; ++x)
          a.gemm(Trans::kNo, Trans::kNo, g.O, T, g.C, U + x * OC, g.C, V + x * CT, T, M + x * OT, T, false);
      }
      transform_outputs(a, g, M, row0, rows, bias, yb);
    }
  }
}

}  // namespace websd::cpu
