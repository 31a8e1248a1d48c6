// SPDX-License-Identifier: BSL-1.0
// tools/cli/docs.hpp - the tool's man page (`venom help --man`) and bash completion
// (`venom completion bash`), generated from the command table.
//
// Design. Both documents are built from the same data the --help listings are: each command's
// name, synopsis, summary, description and OptionTable (CommandDoc below is a plain view of
// venom_cli.cpp's CommandSpec). Nothing here names a command, so a command added to the table
// appears in both at once. What the table does not hold is derived, not listed by hand:
//   - a command's positional words come from its synopsis: the words after "venom COMMAND" up
//     to the first one that opens an option or a group ("[", "(", "-", "|"). NAME (or NAME...)
//     completes channel names, FILE file names, a lower-case word is itself (`completion
//     bash`), any other placeholder (CMD) nothing; a trailing "..." repeats the last one;
//   - an option's values come from Option::values: a word list ("owner group everyone"),
//     "@names" (channel names, from `venom list --names`), "@files" (compgen -f), or nothing;
//   - the EXIT STATUS section is parsed from the tool's own exit-code listing (the text its
//     --help prints), so the two cannot drift apart;
//   - ENVIRONMENT lists NO_COLOR and TERM only when some command has a --color option (they
//     matter to nothing else), VENOM_CHANNEL and VENOM_CLIENT when some command has --exec.
// Only main()'s own words, which are not commands (help, --help, --version), are named here
// (main_words), as main() in venom_cli.cpp handles them.
// The man page carries no date (`.TH VENOM 1 "" "venom X.Y.Z"`): the same build makes the same
// bytes. Text is escaped for roff: `\` -> `\e`, `-` -> `\-`, and a line that would start with
// `.` or `'` (a request) gets `\&` in front.
// The completion script asks the tool that the user typed (COMP_WORDS[0]) for channel names, so
// a build tree's venom completes that build's view; errors from it are discarded.
// Pure string building: no I/O, nothing global, nothing that throws beyond std::bad_alloc.
#pragma once

#include "args.hpp"

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace venom_cli {

/// What the documents need of one command (a view of venom_cli.cpp's CommandSpec).
struct CommandDoc {
    const char* name;        ///< "stat"
    const char* synopsis;    ///< "venom stat NAME [--watch] ..."
    const char* summary;     ///< one line, as `venom --help` lists it
    const char* description; ///< lines of prose, as `venom COMMAND --help` prints it
    OptionTable options;
};

/// main()'s own words at the command's place, which are not commands (venom_cli.cpp main()).
inline constexpr const char* main_words = "help --help --version";
/// The words `venom help` takes after it besides a command name.
inline constexpr const char* help_words = "--man";
/// Words every command takes besides its table (main() answers them with the command's help).
inline constexpr const char* help_options = "--help -h";
/// The hints of Option::values, and of positional words (see the design note).
inline constexpr std::string_view hint_names = "@names";
inline constexpr std::string_view hint_files = "@files";
/// The one-line description of the NAME section.
inline constexpr const char* tool_summary =
    "look into the venom channels on this machine, or host one";

namespace docs_detail {

/// The positional words of a synopsis, as hints (see the design note); `repeats`: the last one
/// may be given again.
struct Positionals {
    std::vector<std::string> hints;
    bool repeats = false;
};

inline Positionals positionals_of(std::string_view synopsis) {
    Positionals p;
    std::vector<std::string_view> words;
    while (!synopsis.empty()) {
        const auto sp = synopsis.find(' ');
        const auto w = synopsis.substr(0, sp);
        if (!w.empty()) words.push_back(w);
        synopsis = sp == std::string_view::npos ? std::string_view() : synopsis.substr(sp + 1);
    }
    constexpr std::size_t first_positional = 2; // after "venom COMMAND"
    for (std::size_t i = first_positional; i < words.size(); ++i) {
        std::string_view w = words[i];
        const char c = w[0];
        if (c == '[' || c == '(' || c == '-' || c == '|') break;
        constexpr std::string_view more = "...";
        if (w.size() > more.size() && w.substr(w.size() - more.size()) == more) {
            w.remove_suffix(more.size());
            p.repeats = true;
        }
        bool lower = true;
        for (const char ch : w) lower = lower && std::islower(static_cast<unsigned char>(ch));
        if (w == "NAME") p.hints.emplace_back(hint_names);
        else if (w == "FILE") p.hints.emplace_back(hint_files);
        else if (lower) p.hints.emplace_back(w);
        else p.hints.emplace_back();
        if (p.repeats) break;
    }
    return p;
}

/// `s` in single quotes for the shell.
inline std::string sh_quote(std::string_view s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

inline bool has_option(const std::vector<CommandDoc>& commands, std::string_view long_name) {
    for (const auto& c : commands)
        if (c.options.find_long(long_name) != nullptr) return true;
    return false;
}

} // namespace docs_detail

/// `text` escaped for roff (see the design note); its newlines are kept.
inline std::string roff_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    bool line_start = true;
    for (const char c : text) {
        if (line_start && (c == '.' || c == '\'')) out += "\\&";
        line_start = c == '\n';
        if (c == '\\') out += "\\e";
        else if (c == '-') out += "\\-";
        else out += c;
    }
    return out;
}

/// The man page, in roff (man macros). `version`: "X.Y.Z"; `exit_codes`: the tool's exit-code
/// listing as --help prints it: a caption line, then `  K  text` rows, whose further lines are
/// indented deeper.
inline std::string man_page(const std::vector<CommandDoc>& commands, std::string_view version,
                            std::string_view exit_codes) {
    using docs_detail::has_option;
    const auto e = [](std::string_view s) { return roff_escape(s); };
    std::string m;
    m += ".\\\" Generated by `venom help --man` from the tool's command table; do not edit.\n";
    m += ".TH VENOM 1 \"\" \"venom " + e(version) + "\"\n";
    m += ".SH NAME\nvenom \\- " + e(tool_summary) + "\n";
    m += ".SH SYNOPSIS\n";
    m += "\\fBvenom\\fR \\fICOMMAND\\fR [\\fIoptions\\fR]\n.br\n";
    m += "\\fBvenom\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR\n.br\n";
    m += "\\fBvenom help\\fR [\\fICOMMAND\\fR | \\fB\\-\\-man\\fR]\n.br\n";
    m += "\\fBvenom \\-\\-version\\fR\n";
    m += ".SH DESCRIPTION\n";
    m +=
        e("venom shows what the venom channels (shared-memory IPC channels of the venom library) "
          "on this machine are doing, and can host one from a shell script. The commands that "
          "only look (list, stat) map a channel's segment read-only and probe its liveness "
          "locks: nothing in the channel is written or locked. The commands that talk to a "
          "daemon (read, call) connect as an ordinary shell and hold a client slot while they "
          "run.\n");
    m += ".PP\n";
    m +=
        e("Every command takes --json: it then prints one JSON object per line on stdout, errors "
          "too (and nothing on stderr). venom --version prints the tool's venom version and the "
          "shared-memory layout version it reads. venom completion bash prints a bash "
          "completion script; venom help --man prints this page.\n");
    m += ".SH COMMANDS\n";
    for (const auto& c : commands) {
        m += ".SS " + e(c.name) + "\n";
        m += "\\fB" + e(c.synopsis) + "\\fR\n.PP\n";
        m += e(c.description) + "\n";
        for (const Option& o : c.options) {
            m += ".TP\n";
            if (o.short_name != 0) m += "\\fB\\-" + e(std::string(1, o.short_name)) + "\\fR, ";
            m += "\\fB\\-\\-" + e(o.long_name) + "\\fR";
            if (o.value_name != nullptr) m += " \\fI" + e(o.value_name) + "\\fR";
            m += "\n" + e(o.help) + "\n";
        }
    }
    m += ".SH \"EXIT STATUS\"\n";
    // The rows of the listing: "  K  text", continued by lines indented deeper.
    constexpr std::string_view row_indent = "  ";
    std::string_view rest = exit_codes;
    bool caption = true, in_row = false;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (caption) { // "exit codes:"
            caption = false;
            continue;
        }
        if (line.substr(0, row_indent.size()) != row_indent) continue;
        line.remove_prefix(row_indent.size());
        if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) {
            const auto sp = line.find(' ');
            m += ".TP\n\\fB" + e(line.substr(0, sp)) + "\\fR\n";
            line = sp == std::string_view::npos ? std::string_view() : line.substr(sp);
            in_row = true;
        }
        if (!in_row) continue;
        const auto text = line.find_first_not_of(' ');
        if (text != std::string_view::npos) m += e(line.substr(text)) + "\n";
    }
    m += ".SH ENVIRONMENT\n";
    if (has_option(commands, "color")) {
        m += ".TP\n.B NO_COLOR\n" +
             e("Set and not empty: --color auto does not colour (https://no-color.org).\n");
        m += ".TP\n.B TERM\n" + e("\"dumb\": --color auto does not colour.\n");
    }
    if (has_option(commands, "exec")) {
        m += ".TP\n.BR VENOM_CHANNEL \", \" VENOM_CLIENT\n" +
             e("Set by venom serve --exec for each CMD it runs: the channel's name and the "
               "calling client's slot.\n");
    }
    m += ".SH FILES\n";
    m += ".TP\n\\fI/dev/shm/venom.\\fBNAME\\fI.shm\\fR\n" +
         e("The shared-memory segment of channel NAME.\n");
    m += ".TP\n\\fI/dev/shm/venom.\\fBNAME\\fI.lock\\fR\n" +
         e("Its lock file: the daemon's name lock and liveness locks (what list and stat probe, "
           "what rm takes before it removes a stale channel's files).\n");
    m += ".SH \"SEE ALSO\"\n";
    m += ".BR shm_overview (7),\n.BR fcntl (2)\n.PP\n" +
         e("The \"The venom tool\" section of venom's README.md.\n");
    return m;
}

/// The bash completion script: defines _venom and registers it for `venom`.
inline std::string bash_completion(const std::vector<CommandDoc>& commands,
                                   std::string_view version) {
    using docs_detail::sh_quote;
    std::string names;
    for (const auto& c : commands) names += std::string(names.empty() ? "" : " ") + c.name;

    // Per command: its option words, the ones that take a value, its positional hints.
    std::string specs, values;
    for (const auto& c : commands) {
        std::string opts, valued;
        for (const Option& o : c.options) {
            std::string words = std::string("--") + o.long_name;
            if (o.short_name != 0) words += std::string(" -") + o.short_name;
            opts += words + " ";
            if (o.value_name != nullptr) valued += words + " ";
            if (o.value_name != nullptr && o.values != nullptr) {
                std::string pattern = sh_quote(std::string(c.name) + " --" + o.long_name);
                if (o.short_name != 0)
                    pattern += "|" + sh_quote(std::string(c.name) + " -" + o.short_name);
                values += "        " + pattern + ") hint=" + sh_quote(o.values) + " ;;\n";
            }
        }
        opts += help_options;
        const auto p = docs_detail::positionals_of(c.synopsis);
        std::string pos;
        for (const auto& h : p.hints) pos += " " + sh_quote(h);
        specs += "        " + sh_quote(c.name) + ")\n            opts=" + sh_quote(opts) +
                 "\n            valued=" + sh_quote(valued) + "\n            pos=(" + pos +
                 " )\n            repeats=" + (p.repeats ? "1" : "0") + " ;;\n";
    }

    std::string s;
    s += "# bash completion for venom " + std::string(version) +
         ", generated by `venom completion bash`; do not edit.\n"
         "# Install: copy to ~/.local/share/bash-completion/completions/venom, or source it.\n\n";
    s += "# _venom_words HINT CUR: completions of CUR for a hint: a word list, @names, @files.\n"
         "_venom_words() {\n"
         "    local tool=${COMP_WORDS[0]}\n"
         "    [[ $tool == \"~/\"* ]] && tool=$HOME/${tool#\\~/}\n"
         "    case $1 in\n"
         "        '') ;;\n"
         "        " +
         std::string(hint_names) +
         ") COMPREPLY=($(compgen -W \"$(command \"$tool\" list --names 2>/dev/null)\" -- \"$2\")) "
         ";;\n"
         "        " +
         std::string(hint_files) +
         ") compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$2\")) ;;\n"
         "        *) COMPREPLY=($(compgen -W \"$1\" -- \"$2\")) ;;\n"
         "    esac\n"
         "}\n\n";
    s += "_venom() {\n"
         "    COMPREPLY=()\n"
         "    local cur=${COMP_WORDS[COMP_CWORD]}\n"
         "    if ((COMP_CWORD == 1)); then\n"
         "        COMPREPLY=($(compgen -W " +
         sh_quote(names + " " + main_words) +
         " -- \"$cur\"))\n"
         "        return 0\n"
         "    fi\n"
         "    local cmd=${COMP_WORDS[1]}\n"
         "    if [[ $cmd == help ]]; then\n"
         "        ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W " +
         sh_quote(names + " " + help_words) +
         " -- \"$cur\"))\n"
         "        return 0\n"
         "    fi\n"
         "    local opts valued repeats hint= pos=()\n"
         "    case $cmd in\n" +
         specs +
         "        *) return 0 ;;\n"
         "    esac\n"
         "    # the option whose value is being typed: `--opt V`, or `--opt=V` (which bash splits\n"
         "    # at the '=' by COMP_WORDBREAKS)\n"
         "    local opt= prefix= prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
         "    if [[ $cur == = ]]; then\n"
         "        opt=$prev cur=\n"
         "    elif [[ $prev == = ]] && ((COMP_CWORD >= 3)); then\n"
         "        opt=${COMP_WORDS[COMP_CWORD - 2]}\n"
         "    elif [[ $cur == --*=* ]]; then\n"
         "        opt=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}\n"
         "    elif [[ \" $valued \" == *\" $prev \"* ]]; then\n"
         "        opt=$prev\n"
         "    fi\n"
         "    if [[ -n $opt && \" $valued \" == *\" $opt \"* ]]; then\n"
         "        case \"$cmd $opt\" in\n" +
         values +
         "        esac\n"
         "        _venom_words \"$hint\" \"$cur\"\n"
         "        [[ -n $prefix ]] && COMPREPLY=(\"${COMPREPLY[@]/#/$prefix}\")\n"
         "        return 0\n"
         "    fi\n"
         "    if [[ $cur == -* ]]; then\n"
         "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
         "        return 0\n"
         "    fi\n"
         "    # which positional word this is: options and their values are not counted\n"
         "    local i n=0 w ended=0\n"
         "    for ((i = 2; i < COMP_CWORD; i++)); do\n"
         "        w=${COMP_WORDS[i]}\n"
         "        if ((ended)); then ((n++)); continue; fi\n"
         "        case $w in\n"
         "            --) ended=1 ;;\n"
         "            =) ;;\n"
         "            -?*)\n"
         "                if [[ $w != *=* && \" $valued \" == *\" $w \"* ]]; then\n"
         "                    [[ ${COMP_WORDS[i + 1]} == = ]] && ((i++))\n"
         "                    ((i++))\n"
         "                fi ;;\n"
         "            *) [[ ${COMP_WORDS[i - 1]} == = ]] || ((n++)) ;;\n"
         "        esac\n"
         "    done\n"
         "    if ((n >= ${#pos[@]})); then\n"
         "        ((repeats && ${#pos[@]} > 0)) || return 0\n"
         "        n=$((${#pos[@]} - 1))\n"
         "    fi\n"
         "    _venom_words \"${pos[n]}\" \"$cur\"\n"
         "    return 0\n"
         "}\n"
         "complete -F _venom venom\n";
    return s;
}

} // namespace venom_cli
