// SPDX-License-Identifier: BSL-1.0
// tools/cli/json.hpp - a tiny JSON writer for `venom --json`: one compact object per line, so
// that --watch and --follow produce JSON Lines a script can read one line at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace venom_cli {

class Json {
public:
    Json& begin_object() { return open('{'); }
    Json& end_object() { return close('}'); }
    Json& begin_array() { return open('['); }
    Json& end_array() { return close(']'); }

    /// The next member's key (inside an object).
    Json& key(std::string_view k) {
        comma();
        quote(k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }

    Json& value(std::string_view s) {
        comma();
        quote(s);
        return *this;
    }
    Json& value(const char* s) { return value(std::string_view(s)); }
    Json& value(const std::string& s) { return value(std::string_view(s)); }
    Json& value(bool b) {
        comma();
        out_ += b ? "true" : "false";
        return *this;
    }
    Json& value(std::uint64_t n) {
        comma();
        out_ += std::to_string(n);
        return *this;
    }
    Json& value(std::uint32_t n) { return value(std::uint64_t{n}); }
    Json& value(std::int64_t n) {
        comma();
        out_ += std::to_string(n);
        return *this;
    }
    Json& value(int n) { return value(std::int64_t{n}); }
    Json& value(double d) {
        comma();
        if (!std::isfinite(d)) {
            out_ += "null";
        } else {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.6g", d);
            out_ += buf;
        }
        return *this;
    }
    Json& null() {
        comma();
        out_ += "null";
        return *this;
    }

    /// key + value in one call.
    template <class T> Json& kv(std::string_view k, const T& v) { return key(k).value(v); }

    const std::string& str() const noexcept { return out_; }

    /// Writes the document and a newline to stdout, and flushes (JSON Lines).
    void print() const {
        std::fwrite(out_.data(), 1, out_.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

private:
    Json& open(char c) {
        comma();
        out_ += c;
        first_.push_back(true);
        return *this;
    }
    Json& close(char c) {
        out_ += c;
        if (!first_.empty()) first_.pop_back();
        return *this;
    }
    void comma() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_.empty()) {
            if (!first_.back()) out_ += ',';
            first_.back() = false;
        }
    }
    void quote(std::string_view s) {
        out_ += '"';
        for (unsigned char c : s) {
            switch (c) {
            case '"': out_ += "\\\""; break;
            case '\\': out_ += "\\\\"; break;
            case '\n': out_ += "\\n"; break;
            case '\r': out_ += "\\r"; break;
            case '\t': out_ += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out_ += buf;
                } else {
                    out_ += static_cast<char>(c); // UTF-8 passes through (is_text checked it)
                }
            }
        }
        out_ += '"';
    }

    std::string out_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

} // namespace venom_cli
