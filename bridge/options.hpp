// SPDX-License-Identifier: BSL-1.0
/// \file bridge/options.hpp
/// venom_bridge's command line, and the Cyclone DDS XML configuration built from it.
/// Pure C++ (no DDS): parse() throws UsageError with a message that says what to fix.
#pragma once

#include <venom/config.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace venom_bridge {

/// A bad command line: the bridge prints the message and its usage, and exits 2.
struct UsageError {
    std::string message;
};

/// --import NAME[:group|:everyone]: the mirror's file access is chosen here, never taken from
/// the network (an announcement's access field is ignored).
struct ImportSpec {
    std::string name;
    venom::Access access = venom::Access::owner_only;
};

struct ExportSpec {
    std::string name;
    bool read_only = false; ///< NAME:ro: remote requests are answered permission_denied
};

/// The defaults and limits of the options (design 1.2).
struct option_limits {
    static constexpr std::uint32_t max_domain = 230;
    static constexpr std::uint32_t default_lease_ms = 1000;
    static constexpr std::uint32_t min_lease_ms = 100;
    static constexpr std::uint32_t max_lease_ms = 60000;
    static constexpr std::uint32_t default_workers = 4;
    static constexpr std::uint32_t max_workers = 64;
    static constexpr std::uint32_t default_chunk = 1u << 20;
    static constexpr std::uint32_t min_chunk = 4096;
    /// The IDL's bound on StateChunk.bytes (sequence<octet, 4194304>).
    static constexpr std::uint32_t max_chunk = 4u << 20;
    /// --max-mirror: the largest mirror segment an announcement may ask for (default 1 GiB).
    static constexpr std::uint64_t default_max_mirror = std::uint64_t{1} << 30;
    static constexpr std::uint64_t min_max_mirror = std::uint64_t{1} << 20;
    static constexpr std::uint64_t max_max_mirror = venom::limits::max_segment_size;
    /// --request-timeout: the time limit of a remote request whose shell set none.
    static constexpr std::uint32_t default_request_timeout_ms = 60000;
    static constexpr std::uint32_t min_request_timeout_ms = 100;
    static constexpr std::uint32_t max_request_timeout_ms = 86400000;
};

struct Options {
    std::vector<ExportSpec> exports;
    std::vector<ImportSpec> imports;
    std::uint32_t domain = 0;
    std::vector<std::string> peers;
    std::string interface_name;
    std::uint32_t lease_ms = option_limits::default_lease_ms;
    bool json = false;
    std::uint32_t workers = option_limits::default_workers;
    std::uint32_t chunk = option_limits::default_chunk;
    std::string dds_config; ///< a file of extra Cyclone XML, merged after ours
    std::uint64_t max_mirror = option_limits::default_max_mirror; ///< bytes of one mirror
    std::uint32_t request_timeout_ms = option_limits::default_request_timeout_ms;
    bool help = false;
};

inline const char* usage_text() {
    return "usage: venom_bridge (--export NAME[:ro] | --import NAME[:group|:everyone])...\n"
           "                    [--domain N] [--peer ADDR]... [--interface IF] [--lease MS]\n"
           "                    [--json] [--workers N] [--chunk BYTES] [--max-mirror BYTES]\n"
           "                    [--request-timeout MS] [--dds-config FILE]\n";
}

inline const char* help_text() {
    return "Carries venom channels between hosts over Cyclone DDS: serves local channels to other\n"
           "hosts (--export) and keeps local mirrors of remote ones (--import), which local "
           "shells\n"
           "use with the unchanged venom API.\n\n"
           "  --export NAME[:ro]  serve local channel NAME (repeatable); :ro answers every remote\n"
           "                      request permission_denied without forwarding it\n"
           "  --import NAME[:group|:everyone]\n"
           "                      keep a local mirror NAME of a remote export (repeatable); its\n"
           "                      files are owner-only (0600) unless :group (0660) or :everyone\n"
           "                      (0666) is given here (never taken from the remote side)\n"
           "  --domain N          DDS domain id, 0..230 (default 0)\n"
           "  --peer ADDR         unicast discovery peer (repeatable), for networks without\n"
           "                      multicast; also sets Discovery/ParticipantIndex auto\n"
           "  --interface IF      the network interface (a name or an address)\n"
           "  --lease MS          participant and liveliness lease, 100..60000 (default 1000): a\n"
           "                      peer that stops is noticed within it\n"
           "  --json              one JSON object per line on stdout per event (default: text on\n"
           "                      stderr)\n"
           "  --workers N         origin shells per export: remote requests served in parallel,\n"
           "                      1..64 (default 4)\n"
           "  --chunk BYTES       state chunk size, 4096..4194304, K/M suffixes (default 1M)\n"
           "  --max-mirror BYTES  largest shared-memory segment a mirror may take, 1M..256G,\n"
           "                      K/M/G suffixes (default 1G): larger announcements are refused\n"
           "  --request-timeout MS\n"
           "                      time limit of a remote request whose shell set none,\n"
           "                      100..86400000 (default 60000); it then fails with timeout\n"
           "  --dds-config FILE   extra Cyclone DDS XML merged after the bridge's own (security,\n"
           "                      tracing)\n\n"
           "Exit codes: 0 SIGINT/SIGTERM (clean), 1 set-up failed (DDS, channel), 2 usage.\n";
}

namespace detail_options {

inline std::uint64_t parse_number(const std::string& opt, const std::string& text, bool suffixes) {
    if (text.empty() || text[0] < '0' || text[0] > '9')
        throw UsageError{opt + " needs a number, got \"" + text + "\""};
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0) throw UsageError{opt + ": \"" + text + "\" is out of range"};
    std::string rest(end);
    unsigned long long mult = 1;
    if (suffixes && (rest == "K" || rest == "k" || rest == "KiB")) mult = 1024, rest.clear();
    else if (suffixes && (rest == "M" || rest == "MiB")) mult = 1024 * 1024, rest.clear();
    else if (suffixes && (rest == "G" || rest == "GiB")) mult = 1024ull * 1024 * 1024, rest.clear();
    if (!rest.empty())
        throw UsageError{opt + " needs a number" + (suffixes ? " (K or M suffix)" : "") +
                         ", got \"" + text + "\""};
    if (v > ~0ull / mult) throw UsageError{opt + ": \"" + text + "\" is out of range"};
    return v * mult;
}

inline std::uint32_t in_range(const std::string& opt, const std::string& text, std::uint64_t lo,
                              std::uint64_t hi, bool suffixes = false) {
    const std::uint64_t v = parse_number(opt, text, suffixes);
    if (v < lo || v > hi)
        throw UsageError{opt + " must be " + std::to_string(lo) + ".." + std::to_string(hi) +
                         ", got " + text};
    return static_cast<std::uint32_t>(v);
}

inline void check_name(const std::string& opt, const std::string& name) {
    try {
        venom::validate_name(name);
    } catch (const venom::error&) {
        throw UsageError{opt + " \"" + name +
                         "\": a channel name has 1 to 100 characters from [A-Za-z0-9._-]"};
    }
}

/// An address or host name for Discovery/Peers: printable, no XML metacharacters.
inline void check_peer(const std::string& addr) {
    bool ok = !addr.empty() && addr.size() <= 255;
    for (char c : addr) {
        const bool good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '[' ||
                          c == ']' || c == '_' || c == '%';
        ok = ok && good;
    }
    if (!ok)
        throw UsageError{"--peer \"" + addr + "\": give an IPv4/IPv6 address or host name " +
                         "(optionally :port)"};
}

inline void check_interface(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 255;
    for (char c : name) {
        const bool good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '_' ||
                          c == '@';
        ok = ok && good;
    }
    if (!ok) throw UsageError{"--interface \"" + name + "\": give an interface name or address"};
}

} // namespace detail_options

/// Parses the arguments (argv without the program name). Throws UsageError.
inline Options parse_options(const std::vector<std::string>& args) {
    using namespace detail_options;
    Options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) throw UsageError{a + " needs a value"};
            return args[++i];
        };
        if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--export") {
            std::string v = value();
            ExportSpec e;
            const std::string ro = ":ro";
            if (v.size() > ro.size() && v.compare(v.size() - ro.size(), ro.size(), ro) == 0) {
                e.read_only = true;
                v.resize(v.size() - ro.size());
            }
            check_name("--export", v);
            e.name = v;
            o.exports.push_back(e);
        } else if (a == "--import") {
            std::string v = value();
            ImportSpec im;
            for (const auto& suffix :
                 {std::pair<const char*, venom::Access>{":group", venom::Access::group},
                  {":everyone", venom::Access::everyone}}) {
                const std::string sfx = suffix.first;
                if (v.size() > sfx.size() &&
                    v.compare(v.size() - sfx.size(), sfx.size(), sfx) == 0) {
                    im.access = suffix.second;
                    v.resize(v.size() - sfx.size());
                    break;
                }
            }
            check_name("--import", v);
            im.name = v;
            o.imports.push_back(im);
        } else if (a == "--domain") {
            o.domain = in_range(a, value(), 0, option_limits::max_domain);
        } else if (a == "--peer") {
            const std::string& v = value();
            check_peer(v);
            o.peers.push_back(v);
        } else if (a == "--interface") {
            o.interface_name = value();
            check_interface(o.interface_name);
        } else if (a == "--lease") {
            o.lease_ms =
                in_range(a, value(), option_limits::min_lease_ms, option_limits::max_lease_ms);
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--workers") {
            o.workers = in_range(a, value(), 1, option_limits::max_workers);
        } else if (a == "--chunk") {
            o.chunk =
                in_range(a, value(), option_limits::min_chunk, option_limits::max_chunk, true);
        } else if (a == "--max-mirror") {
            const std::string& v = value();
            o.max_mirror = parse_number(a, v, true);
            if (o.max_mirror < option_limits::min_max_mirror ||
                o.max_mirror > option_limits::max_max_mirror)
                throw UsageError{a + " must be 1M..256G, got " + v};
        } else if (a == "--request-timeout") {
            o.request_timeout_ms = in_range(a, value(), option_limits::min_request_timeout_ms,
                                            option_limits::max_request_timeout_ms);
        } else if (a == "--dds-config") {
            o.dds_config = value();
            if (o.dds_config.empty() || o.dds_config.find(',') != std::string::npos)
                throw UsageError{"--dds-config needs a file name without commas"};
            if (std::FILE* f = std::fopen(o.dds_config.c_str(), "r")) std::fclose(f);
            else throw UsageError{"--dds-config " + o.dds_config + ": cannot read the file"};
        } else {
            throw UsageError{"unknown option \"" + a + "\""};
        }
    }
    if (o.help) return o;
    if (o.exports.empty() && o.imports.empty())
        throw UsageError{"nothing to do: give at least one --export NAME or --import NAME"};
    for (std::size_t i = 0; i < o.exports.size(); ++i) {
        for (std::size_t j = i + 1; j < o.exports.size(); ++j)
            if (o.exports[i].name == o.exports[j].name)
                throw UsageError{"--export " + o.exports[i].name + " is given twice"};
        for (const auto& im : o.imports)
            if (im.name == o.exports[i].name)
                throw UsageError{"channel \"" + im.name +
                                 "\" is both exported and imported: one bridge does one of the "
                                 "two for a channel"};
    }
    for (std::size_t i = 0; i < o.imports.size(); ++i)
        for (std::size_t j = i + 1; j < o.imports.size(); ++j)
            if (o.imports[i].name == o.imports[j].name)
                throw UsageError{"--import " + o.imports[i].name + " is given twice"};
    return o;
}

/// The Cyclone DDS settings the bridge runs with (design 5; README "DDS settings"):
/// large messages and fragments (fewer RTPS fragments per MiB), socket buffers for MiB
/// chunks (up to 4 MB receive, 2 MB send: the kernel's net.core.rmem_max/wmem_max cap them;
/// Cyclone uses what it gets), the writer history's high watermark raised to 16 MB so a chunk
/// stream is not throttled (measured, 8 MiB versions through tbf 1gbit between two netns:
/// 76 % of the link as whole versions with 4 MB, 98 % with 16 MB), the
/// participant lease = --lease (Cyclone's default 10 s is far too slow to notice a gone
/// peer), and with --peer unicast discovery (ParticipantIndex auto: 0.10.2's default `none`
/// makes unicast discovery impossible).
inline std::string dds_xml(const Options& o) {
    std::string x = "<CycloneDDS><Domain id=\"any\"><General>";
    if (!o.interface_name.empty()) {
        const bool address =
            o.interface_name.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos &&
            (o.interface_name.find('.') != std::string::npos ||
             o.interface_name.find(':') != std::string::npos);
        x += std::string("<Interfaces><NetworkInterface ") + (address ? "address" : "name") +
             "=\"" + o.interface_name + "\"/></Interfaces>";
    }
    x += "<MaxMessageSize>65500B</MaxMessageSize><FragmentSize>64000B</FragmentSize></General>";
    x += "<Discovery><LeaseDuration>" + std::to_string(o.lease_ms) + "ms</LeaseDuration>";
    if (!o.peers.empty()) {
        x += "<ParticipantIndex>auto</ParticipantIndex><Peers>";
        for (const auto& p : o.peers) x += "<Peer address=\"" + p + "\"/>";
        x += "</Peers>";
    }
    x += "</Discovery><Internal><SocketReceiveBufferSize min=\"default\" max=\"4MB\"/>"
         "<SocketSendBufferSize min=\"default\" max=\"2MB\"/>"
         "<Watermarks><WhcHigh>16MB</WhcHigh></Watermarks></Internal></Domain></CycloneDDS>";
    return x;
}

} // namespace venom_bridge
