// SPDX-License-Identifier: BSL-1.0
/// \file bridge/events.hpp
/// venom_bridge's event log: with --json one JSON object per line on stdout (each with "t",
/// unix ms, and "event"), else one line of text on stderr. Any thread may log: one mutex
/// orders whole lines. Counters of dropped samples (malformed, stale_answer, expired) are
/// reported at most once a second per channel and kind (Drops).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace venom_bridge {

/// One "key": value of an event; the value is JSON already (Field::str quotes and escapes).
struct Field {
    std::string key;
    std::string json;
    std::string text; ///< the value for the text log

    static std::string quote(const std::string& s) {
        std::string q = "\"";
        for (unsigned char c : s) {
            if (c == '"' || c == '\\') {
                q += '\\';
                q += static_cast<char>(c);
            } else if (c < 0x20) {
                char b[8];
                std::snprintf(b, sizeof b, "\\u%04x", c);
                q += b;
            } else {
                q += static_cast<char>(c);
            }
        }
        return q + "\"";
    }
    /// s for the text log: control bytes (escape sequences of a remote host name, a newline
    /// that would forge a line) as \xNN.
    static std::string printable(const std::string& s) {
        std::string t;
        for (unsigned char c : s) {
            if (c < 0x20 || c == 0x7f) {
                char b[8];
                std::snprintf(b, sizeof b, "\\x%02x", c);
                t += b;
            } else {
                t += static_cast<char>(c);
            }
        }
        return t;
    }
    static Field str(std::string k, const std::string& v) {
        return {std::move(k), quote(v), printable(v)};
    }
    static Field num(std::string k, std::uint64_t v) {
        return {std::move(k), std::to_string(v), std::to_string(v)};
    }
    static Field real(std::string k, double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.3f", v);
        return {std::move(k), b, b};
    }
    static Field boolean(std::string k, bool v) {
        return {std::move(k), v ? "true" : "false", v ? "true" : "false"};
    }
    /// A nested object, already JSON (text: the same).
    static Field raw(std::string k, std::string json) {
        std::string t = json;
        return {std::move(k), std::move(json), std::move(t)};
    }
};

class Log {
public:
    explicit Log(bool json) : json_(json) {}

    bool json() const noexcept { return json_; }

    /// Writes one event line. Never throws (an event that cannot be written is lost).
    void event(const char* name, const std::vector<Field>& fields) noexcept {
        try {
            const auto t = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
            std::string line;
            if (json_) {
                line = "{\"t\":" + std::to_string(t) + ",\"event\":" + Field::quote(name);
                for (const auto& f : fields) line += "," + Field::quote(f.key) + ":" + f.json;
                line += "}\n";
            } else {
                line = std::string("venom_bridge: ") + name;
                for (const auto& f : fields) line += " " + f.key + "=" + f.text;
                line += "\n";
            }
            std::lock_guard<std::mutex> g(m_);
            FILE* out = json_ ? stdout : stderr;
            std::fputs(line.c_str(), out);
            std::fflush(out);
        } catch (...) {}
    }

    /// An error event: {"event":"error","what":...,"message":...}.
    void error(const std::string& what, const std::string& message) noexcept {
        event("error", {Field::str("what", what), Field::str("message", message)});
    }

private:
    bool json_;
    std::mutex m_;
};

/// Dropped-sample counters per (channel, kind), and their rate-limited "dropped" events.
class Drops {
public:
    static constexpr std::chrono::seconds report_every{1};

    void count(const std::string& channel, const char* kind, std::uint64_t n = 1) {
        std::lock_guard<std::mutex> g(m_);
        auto& e = counts_[{channel, kind}];
        e.total += n;
        e.unreported += n;
    }
    std::uint64_t total(const char* kind) const {
        std::lock_guard<std::mutex> g(m_);
        std::uint64_t t = 0;
        for (const auto& kv : counts_)
            if (kv.first.second == kind) t += kv.second.total;
        return t;
    }
    /// Logs a "dropped" event for each (channel, kind) with new drops, at most once per
    /// report_every each. From one thread (the main loop).
    void report(Log& log) {
        const auto now = std::chrono::steady_clock::now();
        std::vector<std::vector<Field>> events;
        {
            std::lock_guard<std::mutex> g(m_);
            for (auto& kv : counts_) {
                auto& e = kv.second;
                if (e.unreported == 0 || now - e.last < report_every) continue;
                events.push_back({Field::str("channel", kv.first.first),
                                  Field::str("what", kv.first.second),
                                  Field::num("count", e.unreported), Field::num("total", e.total)});
                e.unreported = 0;
                e.last = now;
            }
        }
        for (const auto& f : events) log.event("dropped", f);
    }

private:
    struct Entry {
        std::uint64_t total = 0;
        std::uint64_t unreported = 0;
        std::chrono::steady_clock::time_point last{};
    };
    mutable std::mutex m_;
    std::map<std::pair<std::string, std::string>, Entry> counts_;
};

} // namespace venom_bridge
