// SPDX-License-Identifier: BSL-1.0
// tools/cli/color.hpp - colour in `venom`'s text output: `--color auto|always|never`.
//
// What is coloured, and nothing else: status words (alive green; stale, closed and
// died_creating red; starting and stopped yellow; foreign magenta; "STUCK?" bold yellow) and
// header rows (bold). Numbers, names and messages stay plain, so a grep on the output finds
// the same words with and without colour.
//
// When: `always` colours, `never` does not, `auto` (the default) colours only when all of
//   - stdout is a terminal (os::stdout_is_terminal(): isatty(1); on Windows a console that
//     takes ANSI codes, ENABLE_VIRTUAL_TERMINAL_PROCESSING switched on): a pipe or a file
//     never gets escape codes;
//   - NO_COLOR is unset or empty (https://no-color.org: "when present and not an empty
//     string ... prevents the addition of ANSI color");
//   - TERM is not "dumb".
// --json never colours, whatever --color says (JSON strings must not carry escape codes).
//
// Column widths: a coloured cell is longer than it looks. pad() takes the visible text and
// its colour separately, pads by the visible length and wraps only the word, so a table's
// columns line up with and without colour.
//
// Nothing here is global: a Palette is a value a command makes once from its options.
#pragma once

#include "args.hpp"
#include "os.hpp"

#include <venom/venom.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace venom_cli {

/// The --color option row, for every command that colours something.
inline constexpr Option color_option{
    "color", 0, "WHEN",
    "colour status words and headers: auto (the default: only on a terminal, and not when "
    "NO_COLOR is set or TERM=dumb), always or never; --json never has colour",
    "auto always never"};

/// What --color said.
enum class ColorWhen { automatic, always, never };

/// The --color value (auto when not given); anything else: ArgError naming the option.
inline ColorWhen color_when(const Args& a) {
    const std::string v = a.value_or("color", "auto");
    if (v == "auto") return ColorWhen::automatic;
    if (v == "always") return ColorWhen::always;
    if (v == "never") return ColorWhen::never;
    throw ArgError("--color must be auto, always or never, got \"" + v + "\"");
}

/// Whether `auto` colours now: stdout a terminal, NO_COLOR unset or empty, TERM not "dumb".
inline bool color_auto_allowed() {
    if (!os::stdout_is_terminal()) return false;
    const char* no_color = std::getenv("NO_COLOR");
    if (no_color != nullptr && no_color[0] != '\0') return false;
    const char* term = std::getenv("TERM");
    if (term != nullptr && std::strcmp(term, "dumb") == 0) return false;
    return true;
}

/// The escape codes a command's text output uses: all empty when colour is off.
class Palette {
public:
    Palette() = default; ///< no colour
    explicit Palette(bool on) noexcept : on_(on) {}

    /// The palette for a command's options: never with --json.
    static Palette from(ColorWhen when, bool json) {
        if (json || when == ColorWhen::never) return Palette(false);
        return Palette(when == ColorWhen::always || color_auto_allowed());
    }

    bool enabled() const noexcept { return on_; }

    /// The SGR code for a channel status word ("" for those left plain: missing, unknown).
    static const char* code_for(venom::channel_status s) noexcept {
        switch (s) {
        case venom::channel_status::alive: return green;
        case venom::channel_status::stale:
        case venom::channel_status::closed:
        case venom::channel_status::died_creating: return red;
        case venom::channel_status::starting:
        case venom::channel_status::stopped: return yellow;
        case venom::channel_status::foreign: return magenta;
        case venom::channel_status::missing:
        case venom::channel_status::unknown: return "";
        }
        return "";
    }

    /// `word` in the colour of status `s` (a word other than to_string(s) may be given, e.g.
    /// "STALE"): for a cell that is not padded.
    std::string status(std::string_view word, venom::channel_status s) const {
        return wrap(word, code_for(s));
    }
    /// "STUCK?" (or another warning word) in bold yellow.
    std::string stuck(std::string_view word) const { return wrap(word, bold_yellow); }
    /// A header row, bold.
    std::string header(std::string_view text) const { return wrap(text, bold); }

    /// `text` padded to `width` visible columns (left-aligned, or right-aligned), with only
    /// the text itself in colour `code` (one of code_for()'s, or stuck_code/bold). The padding
    /// counts bytes of `text`, which is ASCII in every cell venom colours.
    std::string pad(std::string_view text, std::size_t width, const char* code,
                    bool right = false) const {
        const std::string fill(text.size() < width ? width - text.size() : 0, ' ');
        const std::string cell = wrap(text, code);
        return right ? fill + cell : cell + fill;
    }

    static constexpr const char* bold = "\033[1m";
    static constexpr const char* stuck_code = "\033[1;33m";

private:
    static constexpr const char* green = "\033[32m";
    static constexpr const char* red = "\033[31m";
    static constexpr const char* yellow = "\033[33m";
    static constexpr const char* magenta = "\033[35m";
    static constexpr const char* bold_yellow = stuck_code;
    static constexpr const char* reset = "\033[0m";

    std::string wrap(std::string_view text, const char* code) const {
        if (!on_ || code == nullptr || code[0] == '\0' || text.empty()) return std::string(text);
        return std::string(code) + std::string(text) + reset;
    }

    bool on_ = false;
};

} // namespace venom_cli
