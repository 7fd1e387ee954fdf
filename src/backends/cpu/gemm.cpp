#include "backends/cpu/gemm.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "core/error.h"

#ifdef WEBSD_HAVE_BLAS
#include <cblas.h>
#include <mutex>
#endif

namespace websd::cpu {
namespace {

// Vector width in floats: 16 where AVX-512 exists; 4 (one register) in wasm SIMD128, whose engines have 16 vector
// registers on x86 (the 6×2 accumulators of 8-float vectors would not fit); else 8 (two SSE/NEON registers per
// vector, which the compiler splits by itself).
#if defined(__AVX512F__)
constexpr int kVec = 16;
#elif defined(__wasm_simd128__)
constexpr int kVec = 4;
#else
constexpr int kVec = 8;
#endif
typedef float vfloat __attribute__((vector_size(kVec * sizeof(float))));

constexpr int kMR = 6;         // rows of C per micro-tile
constexpr int kNR = 2 * kVec;  // columns of C per micro-tile
constexpr int64_t kKC = 256;   // depth of one packed block (A panel kMR×kKC stays in L1)
constexpr int64_t kMC = 96;    // rows of C per task (A block in L2)
constexpr int64_t kNC = 512;   // columns of C per task

// An operand as the packers read it: element (r, c) is p[r·ld + c] (trans: p[c·ld + r]), or the same element of a
// stored weight, expanded to f32 on the way (pack_panel).
struct Matrix {
  const float* p;
  int64_t ld;
  bool trans;
  const WeightData* w = nullptr;
  // n elements that lie next to each other in memory, from flattened offset `at`.
  void run(int64_t at, int64_t n, float* dst) const {
    if (w)
      expand_weight(*w, size_t(at), size_t(n), dst);
    else
      std::memcpy(dst, p + at, size_t(n) * sizeof(float));
  }
};

// One panel of an operand, packed as the micro-kernel reads it: dst[k][width] = X(p0 + i, k0 + k) for i < width,
// zero past P, where X(i, k) lies at flattened offset i·ps + k·ks. Where the panel's own dimension is contiguous
// (ps = 1) each k is one run; where k is, a stored weight's panel rows are expanded as runs and interleaved; plain
// f32 is read element by element.
void pack_panel(const Matrix& x, int64_t ps, int64_t ks, int64_t p0, int64_t P, int64_t width, int64_t k0,
                int64_t kc, float* dst) {
  const int64_t n = std::min(width, P - p0);
  if (ps == 1) {
    for (int64_t k = 0; k < kc; ++k) x.run(p0 + (k0 + k) * ks, n, dst + k * width);
  } else if (x.w && ks == 1) {
    float run[kKC];
    for (int64_t i = 0; i < n; ++i) {
      x.run((p0 + i) * ps + k0, kc, run);
      for (int64_t k = 0; k < kc; ++k) dst[k * width + i] = run[k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = 0; i < n; ++i) dst[k * width + i] = x.p[(p0 + i) * ps + (k0 + k) * ks];
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t i = n; i < width; ++i) dst[k * width + i] = 0;
}

// A[i0:i0+kMR, k0:k0+kc] -> dst[kc][kMR], zero-padded past M.
void pack_a(const Matrix& a, int64_t i0, int64_t M, int64_t k0, int64_t kc, float* dst) {
  pack_panel(a, a.trans ? 1 : a.ld, a.trans ? a.ld : 1, i0, M, kMR, k0, kc, dst);
}

// B[k0:k0+kc, j0:j0+kNR] -> dst[kc][kNR], zero-padded past N.
void pack_b(const Matrix& b, int64_t j0, int64_t N, int64_t k0, int64_t kc, float* dst) {
  pack_panel(b, b.trans ? b.ld : 1, b.trans ? 1 : b.ld, j0, N, kNR, k0, kc, dst);
}

inline vfloat load(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, vfloat v) { std::memcpy(p, &v, sizeof(v)); }

// C tile (rows × cols) (+)= packed A panel · packed B panel.
void micro_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t rows, int64_t cols,
                  bool accumulate) {
  vfloat acc[kMR][2] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const vfloat b0 = load(b + k * kNR), b1 = load(b + k * kNR + kVec);
    for (int r = 0; r < kMR; ++r) {
      const float av = a[k * kMR + r];
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  if (rows == kMR && cols == kNR) {
    for (int r = 0; r < kMR; ++r) {
      float* row = c + r * ldc;
      if (accumulate) {
        store(row, load(row) + acc[r][0]);
        store(row + kVec, load(row + kVec) + acc[r][1]);
      } else {
        store(row, acc[r][0]);
        store(row + kVec, acc[r][1]);
      }
    }
    return;
  }
  float tile[kMR][kNR];
  for (int r = 0; r < kMR; ++r) {
    store(tile[r], acc[r][0]);
    store(tile[r] + kVec, acc[r][1]);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + tile[r][j];
}

}  // namespace

namespace {

// Runs fn over [0, n) on the pool, or inline when there is none (a caller that is itself a pool task).
void for_range(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (pool)
    pool->parallel_for(n, fn);
  else
    fn(0, n, 0);
}

void portable(ThreadPool* pool, int64_t M, int64_t N, int64_t K, const Matrix& a, const Matrix& b, float* C,
              int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const int64_t m_panels = (M + kMR - 1) / kMR, n_panels = (N + kNR - 1) / kNR;
  static thread_local std::vector<float> packed_a, packed_b;  // owned by the calling thread, shared by workers
  std::vector<float>& pa = packed_a;
  std::vector<float>& pb = packed_b;
  pa.resize(size_t(m_panels * kMR * kKC));
  pb.resize(size_t(n_panels * kNR * kKC));
  const int64_t m_tasks = (M + kMC - 1) / kMC, n_tasks = (N + kNC - 1) / kNC;
  for (int64_t k0 = 0; k0 < K; k0 += kKC) {
    const int64_t kc = std::min(kKC, K - k0);
    const bool acc = accumulate || k0 > 0;
    for_range(pool, m_panels + n_panels, [&](int64_t begin, int64_t end, int) {
      for (int64_t p = begin; p < end; ++p) {
        if (p < m_panels)
          pack_a(a, p * kMR, M, k0, kc, pa.data() + p * kMR * kKC);
        else
          pack_b(b, (p - m_panels) * kNR, N, k0, kc, pb.data() + (p - m_panels) * kNR * kKC);
      }
    });
    for_range(pool, m_tasks * n_tasks, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t i_lo = (t % m_tasks) * kMC, j_lo = (t / m_tasks) * kNC;
        const int64_t i_hi = std::min(M, i_lo + kMC), j_hi = std::min(N, j_lo + kNC);
        for (int64_t j = j_lo; j < j_hi; j += kNR) {
          const float* bp = pb.data() + (j / kNR) * kNR * kKC;
          for (int64_t i = i_lo; i < i_hi; i += kMR)
            micro_kernel(kc, pa.data() + (i / kMR) * kMR * kKC, bp, C + i * ldc + j, ldc,
                         std::min<int64_t>(kMR, M - i), std::min<int64_t>(kNR, N - j), acc);
        }
      }
    });
  }
}

}  // namespace

#ifdef WEBSD_HAVE_BLAS
namespace {
// OpenBLAS's thread count is one setting of the process. Threaded calls hold blas_mode exclusively while they set
// it and multiply; serial scopes hold it shared with the count at 1. blas_set orders the setting itself.
std::shared_mutex blas_mode;
std::mutex blas_set;
int blas_threads = 0;  // guarded by blas_set
void use_blas_threads(int n) {
  std::lock_guard<std::mutex> lock(blas_set);
  if (blas_threads != n) {
    openblas_set_num_threads(n);
    blas_threads = n;
  }
}
void blas_sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  cblas_sgemm(CblasRowMajor, ta == Trans::kYes ? CblasTrans : CblasNoTrans,
              tb == Trans::kYes ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.0f, A, int(lda), B, int(ldb),
              accumulate ? 1.0f : 0.0f, C, int(ldc));
}
}  // namespace
#endif

bool have_blas() {
#ifdef WEBSD_HAVE_BLAS
  return true;
#else
  return false;
#endif
}

const char* blas_name() { return have_blas() ? "openblas" : "none"; }

std::string blas_description() {
#ifdef WEBSD_HAVE_BLAS
  return std::string(openblas_get_config()) + " (" + openblas_get_corename() + ")";
#else
  return "none";
#endif
}

Gemm::Gemm(ThreadPool& pool, bool use_blas) : pool_(pool), blas_(have_blas() && use_blas) {}

const char* Gemm::name() const { return blas_ ? blas_name() : "portable"; }

std::string Gemm::portable_description() {
  return "portable " + std::to_string(kMR) + "x" + std::to_string(kNR) + ", kc " + std::to_string(kKC) + ", mc " +
         std::to_string(kMC) + ", nc " + std::to_string(kNC);
}

void Gemm::operator()(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) const {
#ifdef WEBSD_HAVE_BLAS
  if (blas_) {
    std::unique_lock<std::shared_mutex> exclusive(blas_mode);
    use_blas_threads(pool_.size());
    blas_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
#endif
  portable(&pool_, M, N, K, Matrix{A, lda, ta == Trans::kYes}, Matrix{B, ldb, tb == Trans::kYes}, C, ldc, accumulate);
}

GemmOperand Gemm::prepare(const GemmOperand& o, float* scratch) const {
  if (!o.weight) return o;
  const WeightData& w = *o.weight;
  if (w.dtype == DType::kF32) return GemmOperand{static_cast<const float*>(w.data), nullptr, o.ld};
  if (!blas_) return o;
  pool_.parallel_for(w.shape.numel(), [&](int64_t b, int64_t e, int) {
    expand_weight(w, size_t(b), size_t(e - b), scratch + b);
  }, 1 << 14);
  return GemmOperand{scratch, nullptr, o.ld};
}

void Gemm::operator()(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const GemmOperand& A,
                      const GemmOperand& B, float* C, int64_t ldc, bool accumulate) const {
  if (blas_) {
    if (A.weight || B.weight) throw Error(ErrorCode::kInternal, "sgemm: the BLAS takes f32 operands (Gemm::prepare)");
    (*this)(ta, tb, M, N, K, A.f32, A.ld, B.f32, B.ld, C, ldc, accumulate);
    return;
  }
  const auto matrix = [](const GemmOperand& o, Trans t) {
    if (o.weight && o.weight->dtype == DType::kF32)
      return Matrix{static_cast<const float*>(o.weight->data), o.ld, t == Trans::kYes};
    return Matrix{o.f32, o.ld, t == Trans::kYes, o.weight};
  };
  portable(&pool_, M, N, K, matrix(A, ta), matrix(B, tb), C, ldc, accumulate);
}

Gemm::SerialScope::SerialScope(const Gemm& g) {
#ifdef WEBSD_HAVE_BLAS
  if (g.blas_) {
    blas_mode_ = std::shared_lock<std::shared_mutex>(blas_mode);
    use_blas_threads(1);  // the next threaded call restores its pool's count
  }
#else
  (void)g;
#endif
}

void Gemm::serial(const SerialScope&, Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) const {
#ifdef WEBSD_HAVE_BLAS
  if (blas_) {
    blas_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
#endif
  portable(nullptr, M, N, K, Matrix{A, lda, ta == Trans::kYes}, Matrix{B, ldb, tb == Trans::kYes}, C, ldc, accumulate);
}

}  // namespace websd::cpu
