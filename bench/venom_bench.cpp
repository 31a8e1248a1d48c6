// SPDX-License-Identifier: BSL-1.0
// bench/venom_bench.cpp - venom's benchmark: venom through its public API, side by side with
// the hardware floor and the alternatives (pipe, Unix socket, TCP loopback,
// boost::interprocess::message_queue, ZeroMQ) in the same run, reported as ratios.
//
// The parent process orchestrates and, in the latency scenarios, is the shell/client itself;
// every other process is this same binary re-run (posix_spawn of /proc/self/exe) in a hidden
// role (--role NAME --arg key=value ...). Children die with the parent (PR_SET_PDEATHSIG), every
// wait is bounded, and the parent kills and reaps every child and removes every name it created
// on any exit (normal, exception, SIGINT/SIGTERM, or its own watchdog).
#include "common.hpp"
#include "results.hpp"
#include "scenario_broadcast.hpp"
#include "scenario_idle.hpp"
#include "scenario_latency.hpp"
#include "scenario_throughput.hpp"
#include "scenario_zerocopy.hpp"
#include "settings.hpp"
#include "targets.hpp"

#include <boost/program_options.hpp>

#include <ctime>
#include <fstream>
#include <iostream>
#include <sys/utsname.h>

namespace po = boost::program_options;

namespace {

const char* const all_scenarios[] = {"rpc-latency",    "rpc-throughput", "broadcast",
                                     "update-latency", "zero-copy",      "idle"};

int run_role(const std::string& role, const std::vector<std::string>& kv) {
    vb::Args a;
    for (const auto& s : kv) {
        const auto eq = s.find('=');
        if (eq != std::string::npos) a.kv[s.substr(0, eq)] = s.substr(eq + 1);
    }
    try {
        if (role == "peer") return vb::role_peer(a);
        if (role == "tp_daemon") return vb::role_tp_daemon(a);
        if (role == "tp_shell") return vb::role_tp_shell(a);
        if (role == "tp_uds_server") return vb::role_tp_uds_server(a);
        if (role == "tp_uds_client") return vb::role_tp_uds_client(a);
        if (role == "bc_writer") return vb::role_bc_writer(a);
        if (role == "bc_reader") return vb::role_bc_reader(a);
        if (role == "zc_writer") return vb::role_zc_writer(a);
        if (role == "zc_reader") return vb::role_zc_reader(a);
        if (role == "idle_daemon") return vb::role_idle_daemon(a);
        if (role == "idle_shell") return vb::role_idle_shell(a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "venom_bench --role %s: %s\n", role.c_str(), e.what());
        return 1;
    }
    std::fprintf(stderr, "venom_bench: unknown role %s\n", role.c_str());
    return 2;
}

extern "C" void on_fatal_signal(int sig) {
    vb::children().kill_all();
    vb::cleanup_list().run();
    const char msg[] = "\nvenom_bench: interrupted; children killed, names removed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    std::_Exit(128 + sig);
}

/// Ends a run that has gone on far longer than it should: first kills the children (every
/// blocking read in the parent then fails and the run unwinds), then, if still alive, exits.
void start_watchdog(double limit_s) {
    std::thread([limit_s] {
        const std::int64_t end = vb::now_ns() + static_cast<std::int64_t>(limit_s * 1e9);
        while (vb::now_ns() < end) vb::sleep_ns(200000000);
        std::fprintf(stderr,
                     "\nvenom_bench: watchdog: the run passed %.0f s; killing its children\n",
                     limit_s);
        vb::children().kill_all();
        vb::sleep_ns(15000000000LL);
        vb::cleanup_list().run();
        std::fprintf(stderr, "venom_bench: watchdog: giving up\n");
        std::_Exit(2);
    }).detach();
}

std::string read_first(const std::string& path, const std::string& key) {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0) {
            auto c = line.find(':');
            if (c != std::string::npos) {
                auto v = line.substr(c + 1);
                v.erase(0, v.find_first_not_of(" \t"));
                return v;
            }
        }
    return "";
}

std::string machine_description(const vb::Settings& s) {
    std::string m = read_first("/proc/cpuinfo", "model name");
    if (m.empty()) m = "unknown CPU";
    m += ", " + std::to_string(s.cpus.size()) + " CPUs";
    const std::string flags = read_first("/proc/cpuinfo", "flags");
    if (flags.find("hypervisor") != std::string::npos) m += " (virtual machine)";
    utsname u;
    if (::uname(&u) == 0) m += ", Linux " + std::string(u.release);
    const std::string mem = read_first("/proc/meminfo", "MemTotal");
    if (!mem.empty()) m += ", " + vb::fmt("%.0f GiB", std::atof(mem.c_str()) / 1048576.0);
    return m;
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    char b[64];
    std::strftime(b, sizeof b, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
    return b;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

} // namespace

int main(int argc, char** argv) {
    po::options_description visible(
        "venom_bench: venom against the hardware floor and the alternatives, on this machine, in "
        "one run.\n"
        "\n"
        "Scenarios (all by default; each runnable alone with --scenario):\n"
        "  rpc-latency     one daemon and one shell in two processes pinned to two CPUs; echo\n"
        "                  requests of 16, 64, 1024, 4096 bytes; every round trip recorded (p50, "
        "p90,\n"
        "                  p99, p99.9, max) for venom busy_poll and default (spin_then_block), "
        "against\n"
        "                  the floor (raw shared-memory cache-line ping-pong, no library) and the\n"
        "                  alternatives (pipe pair, Unix socket, TCP loopback with TCP_NODELAY,\n"
        "                  boost::interprocess::message_queue, ZeroMQ ipc:// REQ/REP), interleaved "
        "in\n"
        "                  rounds. Plus the blocking path: a pause before each request so both "
        "sides\n"
        "                  sleep, against a raw futex ping-pong with the same pause.\n"
        "  rpc-throughput  requests/s of 1, 2, 4, 8, 16 shell processes against one daemon (more\n"
        "                  shells than cores on purpose), with the daemon's CPU use; both policies "
        "and\n"
        "                  a poll()-based Unix-socket server with the same clients.\n"
        "  broadcast       write_data and read_data bandwidth at 64 B .. 64 MiB against memcpy of "
        "the\n"
        "                  same size out of raw shared memory; 1..N readers; the writer flat out "
        "and at\n"
        "                  a fixed rate; an 8K video frame (7680x4320x3 bytes) at 30 Hz.\n"
        "  update-latency  from write_data returning to a reader blocked in wait_for_update seeing "
        "the\n"
        "                  new version, against a raw spin and a raw futex wait on a version "
        "word;\n"
        "                  then a hot writer (it spins 20 us between updates) to a spinning "
        "reader:\n"
        "                  the one-way latency, from the write_data call.\n"
        "  zero-copy       loans and views: the cost of a view against read_data and memcpy at 64 "
        "KiB\n"
        "                  .. 8K frame size, 1 and 4 readers; 8K frames at 30 Hz drawn into loans "
        "and\n"
        "                  viewed in place by readers that hold each a part of the frame time: "
        "publish\n"
        "                  to view held, the readers' CPU, and state_busy at 2, 3 and 4 state "
        "buffers.\n"
        "  idle            CPU used by a daemon and shells with nothing to do, over 5 s.\n"
        "\n"
        "Ratios: venom/floor (>1: venom is slower than the floor by that factor), alt/venom (>1: "
        "the\n"
        "alternative is slower than venom by that factor), read/memcpy (1: as fast as memcpy). "
        "Each\n"
        "ratio is the median of per-round ratios, so that a drift of the machine between rounds\n"
        "cancels out. The run ends with the issue's targets, met or missed.\n"
        "\n"
        "Options");
    visible.add_options()("help,h", "this text")(
        "scenario,s", po::value<std::vector<std::string>>()->composing(),
        "run only this scenario (repeatable, or comma-separated): rpc-latency, rpc-throughput, "
        "broadcast, update-latency, zero-copy, idle")(
        "full",
        "the full mode: 20 rounds, 5x more samples, up to 4 readers and 8 idle shells "
        "(about 10 minutes); default is the quick mode (under 2 minutes on 2 cores)")(
        "smoke",
        "every scenario, tiny (a few seconds); checks that the figures are sane "
        "(non-zero, every venom answer and state correct); exit status 1 otherwise")(
        "rounds", po::value<int>(),
        "interleaved rounds of the latency scenarios (quick 5, full 20)")(
        "json", po::value<std::string>(),
        "also write every figure, the machine and the targets as JSON to this file")(
        "csv", po::value<std::string>(),
        "also write every figure as CSV (scenario,mechanism,variant,size,"
        "peers,metric,value) to this file; bench/plot.gnuplot turns it into PNG charts")(
        "cpus", po::value<std::string>(),
        "A,B: pin the daemon/server/writer to CPU A and the shell/client/"
        "reader to CPU B (default: the first two CPUs this process may use)")(
        "no-pin", "do not pin any process")(
        "shells", po::value<std::string>(),
        "rpc-throughput: the shell counts to measure, comma-separated "
        "(default 1,2,4,8,16; the first is the reference of 'vs 1 shell')")(
        "spin-us", po::value<int>(),
        "rpc-throughput: set spin_time (ChannelConfig and ShellOptions) to this "
        "many microseconds instead of the default 50, to see its effect")(
        "idle-gap-us", po::value<int>(),
        "the pause before each request on the blocking path and between "
        "updates in update-latency, in microseconds (default 1000)")("quiet,q",
                                                                     "no progress line on stderr");
    po::options_description hidden("child roles");
    hidden.add_options()("role", po::value<std::string>(), "run as a child in this role")(
        "arg", po::value<std::vector<std::string>>()->composing(), "key=value for the role");
    po::options_description all;
    all.add(visible).add(hidden);

    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, all), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "venom_bench: " << e.what() << "\n(try --help)\n";
        return 2;
    }
    if (vm.count("role"))
        return run_role(vm["role"].as<std::string>(), vm.count("arg")
                                                          ? vm["arg"].as<std::vector<std::string>>()
                                                          : std::vector<std::string>{});
    if (vm.count("help")) {
        std::cout << visible << "\nExamples:\n"
                  << "  venom_bench                                   quick mode, every scenario\n"
                  << "  venom_bench --scenario rpc-latency --full     one scenario, full mode\n"
                  << "  venom_bench --csv r.csv --json r.json && gnuplot -e \"csv='r.csv'; "
                     "outdir='.'\" bench/plot.gnuplot\n";
        return 0;
    }

    // ---- settings
    vb::Settings s = vm.count("smoke")  ? vb::Settings::smoke()
                     : vm.count("full") ? vb::Settings::full()
                                        : vb::Settings::quick();
    if (vm.count("rounds")) s.rounds = std::max(1, vm["rounds"].as<int>());
    if (vm.count("idle-gap-us")) {
        s.idle_gap_ns = std::int64_t{1000} * std::max(1, vm["idle-gap-us"].as<int>());
        s.upd_gap_ns = s.idle_gap_ns;
    }
    if (vm.count("shells")) {
        s.tp_shells.clear();
        for (const auto& x : split(vm["shells"].as<std::string>(), ','))
            if (std::atoi(x.c_str()) > 0 && std::atoi(x.c_str()) <= 60)
                s.tp_shells.push_back(std::atoi(x.c_str()));
        if (s.tp_shells.empty()) {
            std::cerr << "venom_bench: --shells wants counts of 1..60, comma-separated\n";
            return 2;
        }
    }
    if (vm.count("spin-us")) s.tp_spin_us = std::max(0, std::min(1000000, vm["spin-us"].as<int>()));
    std::vector<std::string> scenarios;
    if (vm.count("scenario")) {
        for (const auto& arg : vm["scenario"].as<std::vector<std::string>>())
            for (const auto& name : split(arg, ',')) {
                if (name == "all") {
                    scenarios.assign(std::begin(all_scenarios), std::end(all_scenarios));
                    continue;
                }
                if (std::find(std::begin(all_scenarios), std::end(all_scenarios), name) ==
                    std::end(all_scenarios)) {
                    std::cerr << "venom_bench: unknown scenario \"" << name << "\" (try --help)\n";
                    return 2;
                }
                scenarios.push_back(name);
            }
    } else {
        scenarios.assign(std::begin(all_scenarios), std::end(all_scenarios));
    }
    vb::progress().enable(!vm.count("quiet"));

    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    vb::self_exe() = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string(argv[0]);

    s.cpus = vb::allowed_cpus();
    s.parent_pid = static_cast<int>(::getpid());
    s.run_id = "vb" + std::to_string(s.parent_pid);
    vb::Report rep;
    rep.mode = s.mode;
    for (int i = 0; i < argc; ++i) rep.command += (i ? " " : "") + std::string(argv[i]);
    rep.machine = machine_description(s);
    rep.started = utc_now();
    if (!vm.count("no-pin")) {
        if (vm.count("cpus")) {
            const auto c = split(vm["cpus"].as<std::string>(), ',');
            if (c.size() != 2) {
                std::cerr << "venom_bench: --cpus wants A,B\n";
                return 2;
            }
            s.cpu_a = std::atoi(c[0].c_str());
            s.cpu_b = std::atoi(c[1].c_str());
        } else if (s.cpus.size() >= 2) {
            s.cpu_a = s.cpus[0];
            s.cpu_b = s.cpus[1];
        } else {
            rep.notes.push_back("one CPU: nothing pinned; every figure shares one core");
        }
    } else {
        rep.notes.push_back("--no-pin: nothing pinned");
    }

    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
    ::signal(SIGPIPE, SIG_IGN);
    start_watchdog(s.mode == "full" ? 3600 : s.mode == "smoke" ? 300 : 900);

    vb::Checks chk;
    int exit_code = 0;
    try {
        vb::CtlSegment ctl = vb::CtlSegment::create(s.run_id + ".ctl");
        s.ctl = &ctl;
        std::cout << "venom_bench, " << s.mode << " mode, " << rep.started
                  << "\nmachine: " << rep.machine << "\npinning: "
                  << (s.cpu_a >= 0 ? "daemon/server/writer on CPU " + std::to_string(s.cpu_a) +
                                         ", shell/client/reader on CPU " + std::to_string(s.cpu_b)
                                   : std::string("none"))
                  << "\n\n"
                  << std::flush;
        for (const std::string& sc : scenarios) {
            const std::size_t before = rep.tables.size();
            const vb::CpuSnapshot cpu0 = vb::cpu_snapshot();
            try {
                if (sc == "rpc-latency") vb::scenario_rpc_latency(s, rep, chk);
                else if (sc == "rpc-throughput") vb::scenario_rpc_throughput(s, rep, chk);
                else if (sc == "broadcast") vb::scenario_broadcast(s, rep, chk);
                else if (sc == "update-latency") vb::scenario_update_latency(s, rep, chk);
                else if (sc == "zero-copy") vb::scenario_zero_copy(s, rep, chk);
                else if (sc == "idle") vb::scenario_idle(s, rep, chk);
            } catch (const std::exception& e) {
                chk.failures.push_back(sc + ": " + e.what());
                vb::progress().note("venom_bench: " + sc + " failed: " + e.what());
            }
            vb::progress().clear();
            // How much of the machine others took meanwhile: figures taken beside other work
            // (a shared CI machine) say so.
            const auto [foreign, steal] = vb::foreign_load(cpu0, vb::cpu_snapshot());
            rep.add(vb::Record{"machine",
                               "other-load",
                               sc,
                               0,
                               0,
                               {{"foreign_cpu_pct", foreign}, {"steal_pct", steal}},
                               "CPU time of other processes and hypervisor steal during this "
                               "scenario, % of all CPUs"});
            const std::string load_line = "  (during " + sc + ": other processes used " +
                                          vb::fmt_pct(foreign) + " and the hypervisor stole " +
                                          vb::fmt_pct(steal) + " of the " +
                                          std::to_string(s.cpus.size()) + " CPUs)\n";
            if (rep.tables.size() > before) rep.tables.back() += load_line;
            for (std::size_t i = before; i < rep.tables.size(); ++i)
                std::cout << rep.tables[i] << "\n";
            std::cout << std::flush;
        }
        vb::judge_targets(rep);
        std::cout << vb::targets_table(rep) << "\n";
        for (const auto& note : rep.notes) std::cout << "note: " << note << "\n";
        for (const auto& f : chk.failures) rep.notes.push_back("FAILED: " + f);
        if (vm.count("json")) vb::write_json(rep, vm["json"].as<std::string>());
        if (vm.count("csv")) vb::write_csv(rep, vm["csv"].as<std::string>());
        s.ctl = nullptr;
    } catch (const std::exception& e) {
        chk.failures.push_back(e.what());
    }
    vb::children().kill_all();
    vb::cleanup_list().run();

    if (!chk.failures.empty()) {
        for (const auto& f : chk.failures) std::cout << "FAILED: " << f << "\n";
        exit_code = 1;
    }
    if (s.mode == "smoke") std::cout << (exit_code == 0 ? "smoke: OK\n" : "smoke: FAILED\n");
    return exit_code;
}
