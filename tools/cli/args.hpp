// SPDX-License-Identifier: BSL-1.0
// tools/cli/args.hpp - the tool's command-line parser: strict, table-driven, no Boost.
//
// Each command declares its options as a constant table of Option rows (the --help listing,
// and later the man page and the shell completion, are generated from the same table), and
// parse_args() turns the words after the command into an Args: the flags and values given, and
// the positional words. It is strict on purpose, because a script that passes a wrong option
// should fail loudly rather than do something else:
//   - `--name VALUE`, `--name=VALUE` and `-x VALUE` give a value; a flag takes none
//     (`--flag=1` is an error);
//   - an option is given at most once (flags too);
//   - a long name is matched whole: no abbreviations (Boost.Program_options took `--inter`
//     for `--interval`; a later option named `--inter...` would have changed its meaning);
//   - short flags do not combine (`-wf` is unknown);
//   - the word after an option that takes a value is its value, unless that word looks like an
//     option (`-x`, `--x`; a negative number such as `-5` is a value): then the value is
//     missing;
//   - `--` ends the options: every later word is positional; a lone `-` is positional.
// The error texts are those Boost.Program_options printed (test/cli_test.sh checks them), so
// scripts that matched them keep working. Typed getters parse on demand and throw ArgError with
// the same "the argument ('soon') for option '--timeout' is invalid" text.
// Nothing here allocates beyond the strings and vectors of the result; nothing is global.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace venom_cli {

/// One option of a command. The table is constant data; the strings are literals.
struct Option {
    const char* long_name;  ///< without the leading "--"
    char short_name;        ///< 'w' for -w; 0: none
    const char* value_name; ///< "MS" in `--timeout MS`; nullptr: a flag (takes no value)
    const char* help;       ///< one sentence or two; the --help listing wraps it
    /// For completion (later): "auto always never" (the words allowed), "@names" (channel
    /// names), "@files" (file names), or nullptr (anything).
    const char* values;
};

/// A command's options: a view of a constant array of Option.
class OptionTable {
public:
    constexpr OptionTable() noexcept = default;
    template <std::size_t N>
    constexpr OptionTable(const Option (&rows)[N]) noexcept : rows_(rows), n_(N) {} // NOLINT
    const Option* begin() const noexcept { return rows_; }
    const Option* end() const noexcept { return rows_ + n_; }
    std::size_t size() const noexcept { return n_; }

    const Option* find_long(std::string_view name) const noexcept {
        for (const Option& o : *this)
            if (name == o.long_name) return &o;
        return nullptr;
    }
    const Option* find_short(char c) const noexcept {
        for (const Option& o : *this)
            if (o.short_name != 0 && o.short_name == c) return &o;
        return nullptr;
    }

private:
    const Option* rows_ = nullptr;
    std::size_t n_ = 0;
};

/// A command-line error: the tool prints what() with the command's synopsis and exits 2.
struct ArgError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The words of one command line, parsed against its OptionTable.
class Args {
public:
    /// Whether the option (a flag, or one with a value) was given.
    bool has(std::string_view long_name) const { return given(long_name) != nullptr; }

    /// The value given to the option, if it was.
    std::optional<std::string> value(std::string_view long_name) const {
        const auto* g = given(long_name);
        if (g == nullptr) return std::nullopt;
        return g->second;
    }
    std::string value_or(std::string_view long_name, std::string fallback) const {
        auto v = value(long_name);
        return v ? *v : std::move(fallback);
    }

    /// The option's value as a decimal integer ("-5" and "+5" included), or `fallback` when not
    /// given. Not a number, or outside long long: ArgError "the argument ('soon') for option
    /// '--timeout' is invalid". Range checks are the caller's (they have their own messages).
    long long integer(std::string_view long_name, long long fallback) const {
        const auto* g = given(long_name);
        if (g == nullptr) return fallback;
        long long v = 0;
        if (!parse_integer(g->second, v)) throw invalid(*g);
        return v;
    }

    /// The option's value as a byte count: N, NK, NM or NG (K = 1024; the suffix in either
    /// case), or `fallback` when not given. Anything else, or more than 2^63: ArgError
    /// "the argument ('5Q') for option '--data-size' is invalid: a size is N, NK, NM or NG".
    std::uint64_t size(std::string_view long_name, std::uint64_t fallback) const {
        const auto* g = given(long_name);
        if (g == nullptr) return fallback;
        std::string_view s = g->second;
        unsigned shift = 0;
        if (!s.empty()) {
            switch (s.back()) {
            case 'k':
            case 'K': shift = 10; break;
            case 'm':
            case 'M': shift = 20; break;
            case 'g':
            case 'G': shift = 30; break;
            default: break;
            }
        }
        if (shift != 0) s.remove_suffix(1);
        long long v = 0;
        const auto max = static_cast<long long>(std::numeric_limits<long long>::max() >> shift);
        if (s.empty() || s[0] == '-' || s[0] == '+' || !parse_integer(s, v) || v > max)
            throw ArgError(invalid(*g).what() +
                           std::string(": a size is N, NK, NM or NG (K = 1024 bytes)"));
        return static_cast<std::uint64_t>(v) << shift;
    }

    /// The positional words, in order.
    const std::vector<std::string>& positionals() const noexcept { return positionals_; }

private:
    friend Args parse_args(const OptionTable&, const std::vector<std::string>&, std::size_t);
    using Given = std::pair<const Option*, std::string>;

    /// The option given, or nullptr. A name that is not in the table is the tool's own bug.
    const Given* given(std::string_view long_name) const {
        if (table_.find_long(long_name) == nullptr)
            throw std::logic_error("venom_cli::Args: no option --" + std::string(long_name) +
                                   " in this command's table");
        for (const auto& g : given_)
            if (long_name == g.first->long_name) return &g;
        return nullptr;
    }
    static ArgError invalid(const Given& g) {
        return ArgError("the argument ('" + g.second + "') for option '--" + g.first->long_name +
                        "' is invalid");
    }
    static bool parse_integer(std::string_view s, long long& out) noexcept {
        std::size_t i = 0;
        bool negative = false;
        if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
            negative = s[0] == '-';
            i = 1;
        }
        if (i == s.size()) return false;
        // Accumulated as a negative number, whose range is the larger one.
        long long v = 0;
        constexpr long long lowest = std::numeric_limits<long long>::min();
        for (; i < s.size(); ++i) {
            const char c = s[i];
            if (c < '0' || c > '9') return false;
            const int d = c - '0';
            if (v < (lowest + d) / 10) return false;
            v = v * 10 - d;
        }
        if (!negative) {
            if (v == lowest) return false;
            v = -v;
        }
        out = v;
        return true;
    }

    OptionTable table_;
    std::vector<Given> given_;
    std::vector<std::string> positionals_;
};

/// Whether a word stands for an option rather than a value: `-x`, `--x`, but not `-`, `--`
/// (which ends the options) or a negative number.
inline bool looks_like_option(std::string_view w) noexcept {
    if (w.size() < 2 || w[0] != '-' || w == "--") return false;
    if (w[1] >= '0' && w[1] <= '9') return false; // -5: a value
    return true;
}

/// Parses `words` (the words after the command) against `table`. At most `max_positionals`
/// positional words. Throws ArgError with Boost.Program_options' texts.
inline Args parse_args(const OptionTable& table, const std::vector<std::string>& words,
                       std::size_t max_positionals) {
    Args a;
    a.table_ = table;
    auto add = [&](const Option* o, std::string value) {
        for (const auto& g : a.given_)
            if (g.first == o)
                throw ArgError(std::string("option '--") + o->long_name +
                               "' cannot be specified more than once");
        a.given_.emplace_back(o, std::move(value));
    };
    auto positional = [&](const std::string& w) {
        if (a.positionals_.size() >= max_positionals)
            throw ArgError("too many positional options have been specified on the command line");
        a.positionals_.push_back(w);
    };
    bool options_ended = false;
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        if (!options_ended && w == "--") {
            options_ended = true;
            continue;
        }
        if (options_ended || !looks_like_option(w)) {
            positional(w);
            continue;
        }
        const Option* o = nullptr;
        std::optional<std::string> inline_value;
        if (w[1] == '-') {
            const auto eq = w.find('=');
            const std::string name =
                w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
            o = table.find_long(name);
            if (o == nullptr) throw ArgError("unrecognised option '--" + name + "'");
            if (eq != std::string::npos) inline_value = w.substr(eq + 1);
        } else {
            if (w.size() == 2) o = table.find_short(w[1]);
            if (o == nullptr) throw ArgError("unrecognised option '" + w + "'");
        }
        if (o->value_name == nullptr) {
            if (inline_value)
                throw ArgError(std::string("option '--") + o->long_name +
                               "' does not take any arguments");
            add(o, std::string());
            continue;
        }
        if (inline_value) {
            if (inline_value->empty())
                throw ArgError(std::string("the argument for option '--") + o->long_name +
                               "' should follow immediately after the equal sign");
            add(o, std::move(*inline_value));
            continue;
        }
        if (i + 1 == words.size() || looks_like_option(words[i + 1]) || words[i + 1] == "--")
            throw ArgError(std::string("the required argument for option '--") + o->long_name +
                           "' is missing");
        add(o, words[++i]);
    }
    return a;
}

/// The --help listing of a table, as Boost.Program_options laid it out:
///   `  -w [ --watch ]        refresh every second ...`
/// under a caption line ("options:"); the help text starts in one column (24, or further when
/// an option is longer) and is wrapped so that no line is longer than `width` characters.
/// Ends with a newline.
inline std::string options_help(const OptionTable& table, const char* caption,
                                std::size_t width = 79) {
    constexpr std::size_t min_column = 24;
    constexpr std::size_t min_text = 30; // narrower than this: the text starts on its own line
    auto left = [](const Option& o) {
        std::string s = "  ";
        if (o.short_name != 0) s += std::string("-") + o.short_name + " [ --" + o.long_name + " ]";
        else s += std::string("--") + o.long_name;
        if (o.value_name != nullptr) s += std::string(" ") + o.value_name;
        return s;
    };
    std::size_t column = min_column;
    for (const Option& o : table) column = std::max(column, left(o).size() + 2);
    if (column + min_text > width) column = width > min_text ? width - min_text : 0;
    std::string out = std::string(caption) + ":\n";
    for (const Option& o : table) {
        std::string line = left(o);
        if (line.size() + 1 > column) { // does not fit: the text on the next line
            out += line + "\n";
            line.clear();
        }
        line.resize(column, ' ');
        // Word wrap; a word longer than a line is left whole.
        std::string_view text = o.help;
        bool first_word = true;
        while (!text.empty()) {
            const auto sp = text.find(' ');
            const std::string_view word = text.substr(0, sp);
            text = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
            if (word.empty()) continue;
            if (!first_word && line.size() + 1 + word.size() > width) {
                out += line + "\n";
                line.assign(column, ' ');
                first_word = true;
            }
            if (!first_word) line += ' ';
            line += word;
            first_word = false;
        }
        out += line + "\n";
    }
    return out;
}

} // namespace venom_cli
