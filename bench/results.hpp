// SPDX-License-Identifier: BSL-1.0
// bench/results.hpp - what a run produces: records (one measured configuration each, with named
// figures), aligned text tables, the list of targets met or missed, and the --json / --csv
// writers.
#pragma once

#include "stats.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace vb {

// ---- formatting ----------------------------------------------------------------------------

inline std::string fmt(const char* f, double x) {
    char b[64];
    std::snprintf(b, sizeof b, f, x);
    return b;
}

/// A duration in ns, in the unit that keeps 3 significant digits: "182 ns", "18.2 us", "1.23 ms".
inline std::string fmt_ns(double ns) {
    if (std::isnan(ns)) return "-";
    const double a = std::fabs(ns);
    if (a < 1e3) return fmt("%.0f ns", ns);
    if (a < 1e4) return fmt("%.2f us", ns / 1e3);
    if (a < 1e6) return fmt("%.1f us", ns / 1e3);
    if (a < 1e7) return fmt("%.2f ms", ns / 1e6);
    if (a < 1e9) return fmt("%.1f ms", ns / 1e6);
    return fmt("%.2f s", ns / 1e9);
}
inline std::string fmt_ratio(double r) {
    if (std::isnan(r)) return "-";
    if (r >= 100) return fmt("%.0fx", r);
    if (r >= 10) return fmt("%.1fx", r);
    return fmt("%.2fx", r);
}
inline std::string fmt_gbps(double g) {
    return std::isnan(g) ? "-" : fmt(g < 10 ? "%.2f GB/s" : "%.1f GB/s", g);
}
inline std::string fmt_pct(double p) {
    return std::isnan(p) ? "-" : fmt(p < 10 ? "%.2f%%" : "%.1f%%", p);
}
inline std::string fmt_rate(double r) {
    if (std::isnan(r)) return "-";
    if (r >= 1e6) return fmt("%.2f M/s", r / 1e6);
    if (r >= 1e3) return fmt("%.1f k/s", r / 1e3);
    return fmt("%.1f /s", r);
}
inline std::string fmt_size(std::uint64_t b) {
    if (b >= (1u << 20) && b % (1u << 20) == 0) return std::to_string(b >> 20) + " MiB";
    if (b >= 1000000) return fmt("%.1f MB", static_cast<double>(b) / 1e6);
    if (b >= 1024 && b % 1024 == 0) return std::to_string(b >> 10) + " KiB";
    return std::to_string(b) + " B";
}

// ---- records -------------------------------------------------------------------------------

/// One measured configuration: what was measured and its figures. Metric names carry their
/// unit (p50_ns, gb_per_s, cpu_pct, ratio ...).
struct Record {
    std::string scenario;   ///< rpc-latency, rpc-throughput, broadcast, update-latency, idle
    std::string mechanism;  ///< venom, floor-spin, floor-futex, memcpy, pipe, uds, tcp, ...
    std::string variant;    ///< policy or mode (busy_poll, spin_then_block, flat-out, ...)
    std::uint64_t size = 0; ///< message or state bytes (0: not applicable)
    int peers = 0;          ///< shells / readers (0: not applicable)
    std::vector<std::pair<std::string, double>> metrics;
    std::string note;

    Record& set(const std::string& k, double v) {
        for (auto& m : metrics)
            if (m.first == k) {
                m.second = v;
                return *this;
            }
        metrics.emplace_back(k, v);
        return *this;
    }
    double get(const std::string& k) const {
        for (auto& m : metrics)
            if (m.first == k) return m.second;
        return nan();
    }
    Record& add_summary(const Summary& s, const std::string& unit = "ns") {
        set("samples", static_cast<double>(s.n));
        set("p50_" + unit, s.p50);
        set("p90_" + unit, s.p90);
        set("p99_" + unit, s.p99);
        set("p999_" + unit, s.p999);
        set("max_" + unit, s.max);
        set("mean_" + unit, s.mean);
        return *this;
    }
};

/// A target of the issue, judged on this run.
struct Target {
    std::string what;     ///< the target as stated
    std::string measured; ///< the figure(s) measured
    int status = -1;      ///< 1 met, 0 missed, -1 not measured in this run
};

// ---- aligned tables -------------------------------------------------------------------------

class Table {
public:
    Table(std::string title, std::vector<std::string> header, std::size_t left_cols = 1)
        : title_(std::move(title)), header_(std::move(header)), left_(left_cols) {}
    void row(std::vector<std::string> cells) {
        cells.resize(header_.size());
        rows_.push_back(std::move(cells));
    }
    void separator() { rows_.emplace_back(); }
    bool empty() const { return rows_.empty(); }

    std::string str() const {
        std::vector<std::size_t> w(header_.size());
        for (std::size_t i = 0; i < header_.size(); ++i) w[i] = header_[i].size();
        for (auto& r : rows_)
            for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
        std::ostringstream o;
        o << title_ << "\n";
        auto line = [&](const std::vector<std::string>& r) {
            std::string s;
            for (std::size_t i = 0; i < header_.size(); ++i) {
                const std::string& c = i < r.size() ? r[i] : std::string();
                const std::string pad(w[i] - c.size(), ' ');
                s += (i == 0 ? "  " : "  ");
                s += i < left_ ? c + pad : pad + c;
            }
            while (!s.empty() && s.back() == ' ') s.pop_back();
            o << s << "\n";
        };
        line(header_);
        std::size_t total = 0;
        for (auto x : w) total += x + 2;
        o << "  " << std::string(total - 2, '-') << "\n";
        for (auto& r : rows_) {
            if (r.empty()) o << "\n";
            else line(r);
        }
        return o.str();
    }

private:
    std::string title_;
    std::vector<std::string> header_;
    std::size_t left_;
    std::vector<std::vector<std::string>> rows_;
};

// ---- the run's report ----------------------------------------------------------------------

struct Report {
    std::string mode;    ///< quick, full, smoke
    std::string command; ///< the command line
    std::string machine; ///< CPU model, cores, kernel
    std::string started; ///< UTC time
    std::vector<Record> records;
    std::vector<Target> targets;
    std::vector<std::string> tables; ///< rendered, in scenario order
    std::vector<std::string> notes;  ///< skipped baselines, pinning, failures

    Record& add(Record r) {
        records.push_back(std::move(r));
        return records.back();
    }
    const Record* find(const std::string& scenario, const std::string& mechanism,
                       const std::string& variant, std::uint64_t size, int peers = 0) const {
        for (auto& r : records)
            if (r.scenario == scenario && r.mechanism == mechanism && r.variant == variant &&
                r.size == size && r.peers == peers)
                return &r;
        return nullptr;
    }
};

inline std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\t': o += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) o += fmt("\\u%04x", static_cast<double>(c));
            else o += c;
        }
    }
    return o;
}
inline std::string json_number(double v) {
    if (std::isnan(v) || std::isinf(v)) return "null";
    char b[64];
    std::snprintf(b, sizeof b, "%.10g", v);
    return b;
}

inline void write_json(const Report& rep, const std::string& path) {
    std::ofstream o(path);
    if (!o) throw std::runtime_error("cannot write " + path);
    o << "{\n  \"tool\": \"venom_bench\",\n";
    o << "  \"mode\": \"" << json_escape(rep.mode) << "\",\n";
    o << "  \"command\": \"" << json_escape(rep.command) << "\",\n";
    o << "  \"machine\": \"" << json_escape(rep.machine) << "\",\n";
    o << "  \"started_utc\": \"" << json_escape(rep.started) << "\",\n";
    o << "  \"notes\": [";
    for (std::size_t i = 0; i < rep.notes.size(); ++i)
        o << (i ? ", " : "") << "\"" << json_escape(rep.notes[i]) << "\"";
    o << "],\n  \"records\": [\n";
    for (std::size_t i = 0; i < rep.records.size(); ++i) {
        const Record& r = rep.records[i];
        o << "    {\"scenario\": \"" << json_escape(r.scenario) << "\", \"mechanism\": \""
          << json_escape(r.mechanism) << "\", \"variant\": \"" << json_escape(r.variant)
          << "\", \"size\": " << r.size << ", \"peers\": " << r.peers;
        for (auto& [k, v] : r.metrics) o << ", \"" << json_escape(k) << "\": " << json_number(v);
        if (!r.note.empty()) o << ", \"note\": \"" << json_escape(r.note) << "\"";
        o << "}" << (i + 1 < rep.records.size() ? "," : "") << "\n";
    }
    o << "  ],\n  \"targets\": [\n";
    for (std::size_t i = 0; i < rep.targets.size(); ++i) {
        const Target& t = rep.targets[i];
        o << "    {\"target\": \"" << json_escape(t.what) << "\", \"measured\": \""
          << json_escape(t.measured) << "\", \"status\": \""
          << (t.status == 1   ? "met"
              : t.status == 0 ? "missed"
                              : "not measured")
          << "\"}" << (i + 1 < rep.targets.size() ? "," : "") << "\n";
    }
    o << "  ]\n}\n";
}

/// Long ("tidy") CSV: one figure per line. gnuplot (bench/plot.gnuplot) and spreadsheets
/// (pivot) both read it without knowing which figures each scenario has.
inline void write_csv(const Report& rep, const std::string& path) {
    std::ofstream o(path);
    if (!o) throw std::runtime_error("cannot write " + path);
    o << "scenario,mechanism,variant,size,peers,metric,value\n";
    for (const Record& r : rep.records)
        for (auto& [k, v] : r.metrics) {
            if (std::isnan(v)) continue;
            o << r.scenario << "," << r.mechanism << "," << r.variant << "," << r.size << ","
              << r.peers << "," << k << "," << json_number(v) << "\n";
        }
}

} // namespace vb
