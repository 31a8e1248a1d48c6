// SPDX-License-Identifier: BSL-1.0
// bench/stats.hpp - exact percentiles of recorded samples (every round trip is kept and sorted:
// Debian ships no C/C++ HdrHistogram, and with at most a few million samples per figure an
// exact sort is both simpler and more precise), and medians of per-round ratios.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace vb {

/// Percentiles of a set of samples (nanoseconds, or any unit).
struct Summary {
    std::size_t n = 0;
    double min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

/// Nearest-rank percentile of sorted data: the smallest sample with at least q of the samples
/// at or below it.
template <class T> double percentile_sorted(const std::vector<T>& sorted, double q) {
    if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
    double rank = std::ceil(q * static_cast<double>(sorted.size()));
    std::size_t i = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
    if (i >= sorted.size()) i = sorted.size() - 1;
    return static_cast<double>(sorted[i]);
}

/// Sorts `v` in place and summarises it.
template <class T> Summary summarize(std::vector<T>& v) {
    Summary s;
    s.n = v.size();
    if (v.empty()) {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        s.min = s.p50 = s.p90 = s.p99 = s.p999 = s.max = s.mean = nan;
        return s;
    }
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (const T& x : v) sum += static_cast<double>(x);
    s.min = static_cast<double>(v.front());
    s.max = static_cast<double>(v.back());
    s.mean = sum / static_cast<double>(v.size());
    s.p50 = percentile_sorted(v, 0.50);
    s.p90 = percentile_sorted(v, 0.90);
    s.p99 = percentile_sorted(v, 0.99);
    s.p999 = percentile_sorted(v, 0.999);
    return s;
}

/// Median of a few values (per-round figures); NaN when empty.
inline double median(std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

inline double nan() { return std::numeric_limits<double>::quiet_NaN(); }

} // namespace vb
