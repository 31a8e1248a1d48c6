// SPDX-License-Identifier: BSL-1.0
// venom/detail/layout.hpp - the shared-memory layout of a venom channel: an ABI between
// processes built at different times. Only types, sizes and offsets live here; the protocols
// that use them are in command_queue.hpp (the queue), response_slot.hpp (answers),
// seqlock.hpp (the state), waiter.hpp (WaitWord), liveness.hpp (locks, the name record,
// client slots) and the channels.
//
// A channel is one Boost.Interprocess managed segment ("venom.<name>.shm"). The daemon
// allocates one page-aligned block from it and lays the channel out in page-aligned regions,
// so that each shell can map every page it has no business writing read-only (segment.hpp,
// protect_for_shell): a stray write in a shell faults in that shell instead of corrupting
// what the daemon and the other shells read.
//
//   segment   +-------------------------------------------------------------------+
//             | Boost segment manager (allocator, name index)          shells: R  |
//   block --> +-------------------------------------------------------------------+
//   (page)    | ControlBlock                                            shells: R  |
//             |  line 0-2  identity, configuration, region offsets (daemon, at create)|
//             |  line 3    state word: version and buffer   (daemon per write_data) |
//             |  line 4    head mirror and counters         (daemon per command)    |
//             |            (the state_busy and pins_cleared counters: per write)    |
//             |  line 5    heartbeat, beats, errors logged  (daemon, its loop)      |
//             |            replies_stale (daemon, any thread), commands_expired     |
//             |  line 6-37 ErrorEntry[16]: the last error answers (daemon, per error)|
//             +-------------------------------------------------------------------+
//   state --> | StateBuffer[state_buffers]: header | data   (daemon)   shells: R    |
//             +-------------------------------------------------------------------+
//   answers > | ResponseSlot[max_clients]: header+inline data | data | error text   |
//             |                                  (daemon)              shells: R  |
//             +-------------------------------------------------------------------+
//   shared -> | SharedLines: tail | cmd_wait | space_wait | state_wait | view regs  |
//             | CmdSlot[ring_slots]: one atomic word per line                       |
//             +-------------------------------------------------------------------+
//   clients > | ClientArea[max_clients], each a whole number of pages:              |
//             |  line 0 record (connect) | line 1 requests | line 2 answer wait, |   |
//             |  deferred request id (daemon)                                     |
//             |  line 3 view pins | line 4 staging: header + command bytes         |
//             |                                                  owner: RW, rest R |
//             +-------------------------------------------------------------------+
//
// Writers. Every line has one writer, except the WaitWords (an event's `epoch` is bumped by
// its notifiers, `waiters` counted by its waiters: waiter.hpp) and the queue's lines (tail:
// every shell's CAS; a CmdSlot: the claimant's publish CAS, the daemon's release and
// repairs: command_queue.hpp). Both kinds are written by single atomic operations only, so
// no process can leave them torn. Everything written non-atomically - a command's bytes, an
// answer's bytes, the state's bytes - lies in memory of one writer: the client's own staging
// area, the daemon's response slots and state buffers.
// Every stride is a whole number of cache lines, every region a whole number of pages.
// All shared fields are std::atomic of always-lock-free types; payload bytes are plain bytes
// whose publication is ordered by the atomic next to them.
//
// Liveness is not in the segment's contents: it is in byte-range locks that the OS releases
// when a process dies, and in the name lock file, which only the daemon writes (liveness.hpp
// has the protocol, platform.hpp the locks):
//   the name lock file ("venom.<name>.lock"): byte 0 is held by the daemon that owns the name,
//       for its whole life; its contents are a NameRecord (below) that tells shells where the
//       daemon's segment and control block are, written once the segment is ready;
//   the liveness file, byte 0: held by the daemon once the segment is complete (ready); shells
//       probe it to tell a live daemon from a dead one;
//   the liveness file, byte 1 + i: held by the shell that owns client slot i.
// On Linux the liveness file is the segment file itself (/dev/shm/venom.<name>.shm): a daemon
// that takes over a dead one's name creates a new segment file, so shells still mapping the
// old one see its byte 0 free: their daemon is gone, whoever serves the name now. On Windows
// each daemon instance ("incarnation") has its own segment and liveness file names, and the
// name record tells shells which incarnation serves the name.
//
// Shells never read Boost's own bytes (its header, allocator and name index live in the segment,
// where anyone who can write the segment controls them): the NameRecord gives the control
// block's offset, and the mapping's real size (fstat) bounds every region.
#pragma once

#include <boost/interprocess/offset_ptr.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace venom::detail {

/// Our own cache-line size (not hardware_destructive_interference_size, which varies with flags).
inline constexpr std::size_t cache_line = 64;

/// "VENOMCH\0" little-endian: the first word of every ControlBlock.
inline constexpr std::uint64_t channel_magic = 0x0048434d4f4e4556ull;
/// Bumped whenever any struct in this file, or the meaning of a field, changes.
inline constexpr std::uint32_t layout_version = 8;

/// Name under which the daemon constructs an offset_ptr to the ControlBlock in Boost's index (for
/// a debugger's view; venom itself finds the block through the NameRecord, never the index).
inline constexpr const char* control_block_name = "venom.control";

/// Lock bytes (see the header comment).
inline constexpr std::uint64_t name_lock_byte = 0;            ///< in the lock file
inline constexpr std::uint64_t segment_daemon_byte = 0;       ///< in the segment file
inline constexpr std::uint64_t segment_first_client_byte = 1; ///< in the segment file

/// ControlBlock::state values. Zeroed memory reads as initializing.
enum channel_state : std::uint32_t {
    channel_initializing = 0, ///< the daemon is still building the segment
    channel_ready = 1,        ///< serving
    channel_closed = 2,       ///< the daemon closed the channel; every wait returns daemon_gone
    channel_stopped = 3,      ///< open, its state readable, but not serving requests (stop())
};

/// ClientRecord::state values. Zeroed memory reads as free.
enum client_state : std::uint32_t {
    client_free = 0,
    client_connected = 1,
};

/// ResponseSlot::status values: 0, or a venom::errc value for an error answer.
inline constexpr std::uint32_t status_ok = 0;

/// Request ids: (connection generation << request_counter_bits) | per-connection counter. The
/// generation half tells a command of a shell that has since disconnected from one of the
/// shell now holding its slot; the counter half tells an answer from the one before.
inline constexpr unsigned request_counter_bits = 32;
inline constexpr std::uint64_t request_counter_mask =
    (std::uint64_t{1} << request_counter_bits) - 1;
constexpr std::uint64_t make_request_id(std::uint64_t generation, std::uint64_t counter) noexcept {
    return ((generation & request_counter_mask) << request_counter_bits) |
           (counter & request_counter_mask);
}
constexpr std::uint64_t request_generation(std::uint64_t request) noexcept {
    return request >> request_counter_bits;
}

/// A futex-style event: waiters announce themselves in `waiters`, notifiers bump `epoch` and
/// wake only when waiters != 0, so the notify fast path makes no system call (waiter.hpp).
/// Two writers by design: `epoch` is written by notifiers, `waiters` by waiters, each only by
/// atomic read-modify-writes.
struct WaitWord {
    std::atomic<std::uint32_t> epoch; ///< bumped by notifiers; the futex word
    /// waiters currently announced (may over-count after a crash)
    std::atomic<std::uint32_t> waiters;
};

/// The state word (ControlBlock::state_word): the number of completed writes (the version)
/// and the buffer that holds the newest one, in one atomic, so a reader needs no division.
inline constexpr unsigned state_index_bits = 3; ///< state_buffers <= 8
constexpr std::uint64_t make_state_word(std::uint64_t version, std::uint32_t buffer) noexcept {
    return (version << state_index_bits) | buffer;
}
constexpr std::uint64_t state_version_of(std::uint64_t word) noexcept {
    return word >> state_index_bits;
}
constexpr std::uint32_t state_buffer_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word & ((1u << state_index_bits) - 1));
}

/// Error answers the control block keeps (ControlBlock::errors): the last this many. A power of
/// two, so that error #k lives in entry k % error_log_entries without a division.
inline constexpr std::uint32_t error_log_entries = 16;
/// Bytes of an error answer's text kept in its log entry (the answer itself keeps
/// error_text_capacity); longer texts are cut, and `full_length` says so.
inline constexpr std::size_t error_entry_text_capacity = 88;

/// One logged error answer (daemon_log.hpp has the protocol): plain bytes, copied in and out
/// whole under its entry's sequence word.
struct ErrorBody {
    std::uint64_t unix_ns;     ///< system clock when the error answer was published
    std::uint64_t request;     ///< the request id answered
    std::uint32_t client;      ///< the client slot it answered (for display; never an index)
    std::uint32_t code;        ///< a venom::errc value
    std::uint32_t text_length; ///< bytes of `text` used, <= error_entry_text_capacity
    std::uint32_t full_length; ///< bytes of the whole text (clamped): > text_length = cut
    char text[error_entry_text_capacity]; ///< not NUL-terminated
};

/// A slot of the error log: a sequence word and the body it guards, two lines.
/// seq == 2k + 2: holds complete error #k (k counted from 0); 2k + 1: #k being written; 0: none.
struct ErrorEntry {
    std::atomic<std::uint64_t> seq;
    unsigned char body[sizeof(ErrorBody)];
};

/// The channel's root object, written only by the daemon (shells map it read-only).
struct ControlBlock {
    // ---- line 0: identity and configuration. Written by the daemon before state = ready,
    // never again but for `state`, which stop(), run() and close() change (rarely); read by
    // shells after they see state == ready.
    std::uint64_t magic;
    std::uint32_t version;
    std::atomic<std::uint32_t> state; ///< channel_state
    std::uint64_t data_size;
    std::uint32_t cmd_slots; ///< as configured
    std::uint32_t max_clients;
    std::uint32_t max_cmd_size;
    std::uint32_t max_response_size;
    std::uint32_t state_buffers;
    std::uint32_t daemon_pid;
    std::uint64_t created_unix_ns;
    std::uint32_t wait_policy; ///< the daemon's WaitPolicy (for tools)
    /// queue slots: min(cmd_slots, max_clients), rounded up to a power of two
    std::uint32_t ring_slots;

    // ---- line 1: where the regions are (offset_ptr: relative to the member itself). Written
    // once at create.
    alignas(cache_line) boost::interprocess::offset_ptr<unsigned char> state_area;
    boost::interprocess::offset_ptr<unsigned char> responses;
    boost::interprocess::offset_ptr<unsigned char> shared;
    boost::interprocess::offset_ptr<unsigned char> clients;
    std::uint64_t state_stride;
    std::uint64_t response_stride;
    std::uint64_t client_stride;
    std::uint64_t segment_size;

    // ---- line 2: more configuration. Written once at create.
    alignas(cache_line) std::uint64_t claim_timeout_ns; ///< ChannelConfig::claim_timeout
    std::uint32_t page_size;    ///< the page size every region is aligned to
    std::uint32_t access;       ///< ChannelConfig::access (for tools)
    std::uint64_t spin_time_ns; ///< ChannelConfig::spin_time (for tools)

    // ---- line 3: the state word (make_state_word), alone: readers poll it.
    alignas(cache_line) std::atomic<std::uint64_t> state_word;

    // ---- line 4: queue head mirror and daemon counters (daemon writes per command, tools
    // read). The daemon keeps the real head in its own memory; this copy is for tools.
    alignas(cache_line) std::atomic<std::uint64_t> head;
    std::atomic<std::uint64_t> commands_handled;
    /// out-of-range fields: answered with an error, or dropped
    std::atomic<std::uint64_t> commands_malformed;
    std::atomic<std::uint64_t> commands_stale; ///< dropped: sender disconnected
    std::atomic<std::uint64_t> handler_errors; ///< handler threw or answered too much
    /// holes skipped, tails put back (command_queue.hpp)
    std::atomic<std::uint64_t> queue_repairs;
    /// writes and loans refused: views pinned every buffer but the newest
    std::atomic<std::uint64_t> state_busy;
    /// pin words of dead shells cleared (view_pins.hpp)
    std::atomic<std::uint64_t> pins_cleared;

    // ---- line 5: the daemon's heartbeat and error count (daemon_log.hpp): written by its
    // run()/poll() thread now and then (never per command), read by tools.
    /// steady_clock (nanoseconds since its epoch) at the last beat; 0: it never beat
    alignas(cache_line) std::atomic<std::uint64_t> heartbeat_steady_ns;
    std::atomic<std::uint64_t> beats;         ///< heartbeats so far
    std::atomic<std::uint64_t> errors_logged; ///< error answers logged so far (the log's next k)
    /// deferred answers (venom::Reply) dropped because their shell had gone: written by any
    /// thread of the daemon (reply_slots.hpp, an atomic add), read by tools
    std::atomic<std::uint64_t> replies_stale;
    /// commands not handled because their deadline (StagingHeader::deadline_ns) had passed
    /// when the daemon took them (answered errc::timeout); the run()/poll() thread writes it
    std::atomic<std::uint64_t> commands_expired;
    std::uint64_t reserved1[3];

    // ---- lines 6-37: the last error_log_entries error answers (daemon_log.hpp), written by
    // the daemon's run()/poll() thread per error answer, read by tools.
    alignas(cache_line) ErrorEntry errors[error_log_entries];
};

/// The lines every shell writes (mapped read-write by all): the queue's tail and the events.
struct SharedLines {
    alignas(cache_line) std::atomic<std::uint64_t> tail; ///< next queue position (shells: CAS)
    /// The daemon's wait for commands. Shells read `waiters` after every publish.
    alignas(cache_line) WaitWord cmd_wait;
    /// Shells waiting for a free queue slot; the daemon wakes them.
    alignas(cache_line) WaitWord space_wait;
    /// Shells waiting for a state update; the daemon wakes them.
    alignas(cache_line) WaitWord state_wait;
    /// Bumped by every shell that sets or clears its viewer mark (view_pins.hpp): the daemon
    /// rebuilds its list of viewers when it moves. Only grows.
    alignas(cache_line) std::atomic<std::uint64_t> view_registrations;
};

/// One queue slot: a single atomic word on its own line (command_queue.hpp has its values).
/// Only single atomic operations ever change it, so a claimant stopped or killed at any
/// instruction can never leave it half-written.
struct CmdSlot {
    std::atomic<std::uint64_t> word;
};

/// Header of one client's response slot (daemon writes, its client reads): the answer's bytes
/// start right after it, in the same cache line (response_inline_capacity bytes fit there,
/// so a small answer is one line), and run on for max_response_size bytes; the error text
/// (error_text_capacity bytes) follows them. response_slot.hpp has the protocol.
struct ResponseSlot {
    std::atomic<std::uint64_t> seq;    ///< the request id this slot answers (published last)
    std::atomic<std::uint32_t> status; ///< status_ok or a venom::errc value
    std::atomic<std::uint32_t> length; ///< payload bytes (status_ok) or error text bytes
};
inline constexpr std::size_t response_header_bytes = sizeof(ResponseSlot);
inline constexpr std::size_t response_inline_capacity = cache_line - response_header_bytes;
inline constexpr std::size_t error_text_capacity = 256;

/// One client slot's record, written by the client that holds the slot (ClientArea line 0):
/// written at connect and disconnect, read by the daemon per command (so it stays in the
/// daemon's cache: nothing here changes per request).
struct ClientRecord {
    std::atomic<std::uint32_t> state; ///< client_state
    std::atomic<std::uint32_t> pid;
    std::atomic<std::uint64_t> generation; ///< bumped at each connect; high half of request ids
    std::atomic<std::uint64_t> connected_unix_ns;
    /// Nonzero (viewer_mark(generation)) once this connection has viewed: the daemon reads
    /// its pins at each write (view_pins.hpp). Whoever cleans up after a dead one clears it.
    std::atomic<std::uint32_t> viewer;
};

/// ClientRecord::viewer of a connection that views: its generation's low 31 bits and a set
/// top bit (never 0), so a successor's mark differs from a dead one's.
constexpr std::uint32_t viewer_mark(std::uint64_t generation) noexcept {
    return static_cast<std::uint32_t>(generation & 0x7fffffffu) | 0x80000000u;
}

/// Pin words per shell: one per version it views (views of one version share a word), a
/// cache line of them. Each word holds a buffer of its own, so with at most
/// limits::max_state_buffers (8) buffers a shell never runs out (config.hpp checks it).
inline constexpr std::uint32_t views_per_shell = 8;

/// A client's view pins (ClientArea line 3; view_pins.hpp has the protocol): written by its
/// client when it takes or releases a view, read by the daemon at each write.
struct ViewPins {
    std::atomic<std::uint64_t> pin[views_per_shell];
};

/// Header of a client's staging area (ClientArea line 4): the command, written by its client
/// before it claims a queue position; the bytes start right after it (staging_inline_capacity
/// in the same line) and run on for max_cmd_size bytes. Only its client writes it.
struct StagingHeader {
    std::atomic<std::uint64_t> request; ///< the request id
    std::atomic<std::uint32_t> length;  ///< command bytes
    /// the shell's time limit for the request in microseconds, rounded up and saturated; 0: no
    /// limit (written with every request, no clock read; venom::Reply::deadline uses it)
    std::atomic<std::uint32_t> timeout_us;
    /// steady_clock nanoseconds since its epoch after which the daemon does not handle the
    /// command (it answers errc::timeout, counted in commands_expired); 0: none. Only
    /// ShellChannel::request_until sets it (the clocks of one machine agree).
    std::atomic<std::uint64_t> deadline_ns;
};
inline constexpr std::size_t staging_header_bytes = sizeof(StagingHeader);
inline constexpr std::size_t staging_inline_capacity = cache_line - staging_header_bytes;

/// A client slot's pages (ClientArea lines; the area is a whole number of pages).
inline constexpr std::size_t client_record_line = 0;   ///< ClientRecord
inline constexpr std::size_t client_requests_line = 1; ///< requests sent (client, per request)
inline constexpr std::size_t client_wait_line = 2;     ///< the answer's WaitWord
inline constexpr std::size_t client_pins_line = 3;     ///< ViewPins
inline constexpr std::size_t client_staging_line = 4;  ///< StagingHeader + command bytes
inline constexpr std::size_t client_fixed_bytes =
    client_staging_line * cache_line + staging_header_bytes;
/// In the answer's line (client_wait_line), right after its WaitWord: an atomic u64, the id
/// of the request whose answer the daemon deferred (venom::Reply: the command left the queue
/// and its answer is still to come; response_slot.hpp). Written by the daemon, read by the
/// slot's client; 0 (zeroed at create): none. It took bytes unused at layout 7: a daemon of
/// before never defers, so a shell of now reads 0 from it.
inline constexpr std::size_t client_deferred_offset = sizeof(WaitWord);

/// Header of one state buffer; the data (data_size bytes) follows at +64.
/// seq == 2v: holds complete version v. seq == 2v + 1: version v is being written.
struct StateBuffer {
    std::atomic<std::uint64_t> seq;
    std::atomic<std::uint64_t> length;
};

inline constexpr std::size_t header_bytes = cache_line; ///< a state buffer's data starts here

/// "VENOMNR\0" little-endian: the first word of a ready daemon's NameRecord.
inline constexpr std::uint64_t name_record_magic = 0x00524e4d4f4e4556ull;
/// "VENOMNB\0": a record written while the daemon builds its segment. Shells ignore it; it
/// tells the next daemon which incarnation a daemon killed mid-create left behind (Windows).
inline constexpr std::uint64_t name_record_building_magic = 0x00424e4d4f4e4556ull;
/// Room for a channel name and its NUL (limits::max_name_length is 100), padded to 8 bytes.
inline constexpr std::size_t record_name_capacity = 112;

/// The daemon's record at offset 0 of its name lock file: where only the daemon can write
/// (the file is its own, mode 0600/0640/0644), so a shell learns from it, not from the
/// segment, where the control block is and which segment file belongs to this daemon. Written
/// once the segment is ready; a "building" record (its incarnation only) replaces it when a
/// daemon takes the name over, and zeros when it closes. A reader checks magic, size, name and
/// checksum; anything else reads as "no daemon yet".
struct NameRecord {
    std::uint64_t magic;          ///< name_record_magic
    std::uint32_t layout;         ///< layout_version of the daemon
    std::uint32_t record_size;    ///< sizeof(NameRecord)
    std::uint64_t incarnation;    ///< Windows: names the segment and events; Linux: 0
    std::uint64_t segment_size;   ///< bytes of the segment as the daemon created it
    std::uint64_t control_offset; ///< the ControlBlock's offset from the segment's start
    std::uint64_t segment_dev;    ///< Linux: st_dev and st_ino of the segment file (Windows 0)
    std::uint64_t segment_ino;
    std::uint64_t created_unix_ns;   ///< equals ControlBlock::created_unix_ns
    std::uint32_t daemon_pid;        ///< equals ControlBlock::daemon_pid
    std::uint32_t daemon_uid;        ///< the daemon's effective uid (Windows 0)
    char name[record_name_capacity]; ///< the channel name, NUL-padded
    std::uint64_t checksum;          ///< FNV-1a of every byte before it
};

/// Adds one to a counter that only the calling process writes (daemon counters, a client's
/// request count): a plain load and store, no locked instruction on the hot path. Readers
/// (tools) see a value at most one behind.
inline void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

constexpr std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
    return (n + to - 1) / to * to;
}

// ---- compile-time proofs -------------------------------------------------------------------
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "32-bit atomics must be lock-free");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "64-bit atomics must be lock-free");
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && sizeof(std::atomic<std::uint32_t>) == 4,
              "atomics must have the size of their value (no embedded lock)");
static_assert(std::is_standard_layout_v<ControlBlock> && std::is_standard_layout_v<SharedLines>,
              "ControlBlock and SharedLines must be standard layout");
static_assert(std::is_standard_layout_v<CmdSlot> && std::is_standard_layout_v<ResponseSlot> &&
                  std::is_standard_layout_v<ClientRecord> &&
                  std::is_standard_layout_v<StateBuffer> &&
                  std::is_standard_layout_v<StagingHeader>,
              "shared headers must be standard layout");
static_assert(sizeof(boost::interprocess::offset_ptr<unsigned char>) == 8,
              "offset_ptr is one word");
static_assert(offsetof(ControlBlock, magic) == 0, "magic opens the control block");
static_assert(offsetof(ControlBlock, ring_slots) + 4 == cache_line,
              "identity fills line 0 exactly");
static_assert(offsetof(ControlBlock, state_area) == 1 * cache_line, "region pointers on line 1");
static_assert(offsetof(ControlBlock, segment_size) + 8 == 2 * cache_line,
              "line 1 holds the regions exactly");
static_assert(offsetof(ControlBlock, claim_timeout_ns) == 2 * cache_line,
              "more configuration on line 2");
static_assert(offsetof(ControlBlock, state_word) == 3 * cache_line,
              "the state word alone on line 3: readers poll it, nothing else changes there");
static_assert(offsetof(ControlBlock, head) == 4 * cache_line,
              "the head mirror and counters (changed per command) off the state word's line");
static_assert(offsetof(ControlBlock, pins_cleared) + 8 == 5 * cache_line,
              "counters fill line 4 exactly");
static_assert(offsetof(ControlBlock, spin_time_ns) + 8 <= 3 * cache_line,
              "line 2 holds the rest of the configuration");
static_assert(offsetof(ControlBlock, heartbeat_steady_ns) == 5 * cache_line &&
                  offsetof(ControlBlock, reserved1) + sizeof(ControlBlock::reserved1) ==
                      6 * cache_line,
              "the heartbeat line is line 5, exactly (off the per-command counters' line)");
static_assert(std::is_trivially_copyable_v<ErrorBody> && sizeof(ErrorBody) == 120 &&
                  std::is_standard_layout_v<ErrorEntry> && sizeof(ErrorEntry) == 2 * cache_line,
              "an error entry is its sequence word and a 120-byte body: two lines, no padding");
static_assert(offsetof(ControlBlock, errors) == 6 * cache_line &&
                  (error_log_entries & (error_log_entries - 1)) == 0,
              "the error log starts at line 6 and has a power-of-two number of entries");
static_assert(sizeof(ControlBlock) == 38 * cache_line,
              "ControlBlock is 38 lines: configuration, state word, counters, heartbeat, errors");
static_assert(offsetof(SharedLines, tail) == 0 && offsetof(SharedLines, cmd_wait) == cache_line &&
                  offsetof(SharedLines, space_wait) == 2 * cache_line &&
                  offsetof(SharedLines, state_wait) == 3 * cache_line &&
                  offsetof(SharedLines, view_registrations) == 4 * cache_line &&
                  sizeof(SharedLines) == 5 * cache_line,
              "tail, each event and the viewer count on a line of their own (false sharing)");
static_assert(sizeof(CmdSlot) == 8,
              "a queue slot is one word (padded to a line by the ring's stride)");
static_assert(sizeof(ResponseSlot) == 16 && response_inline_capacity == 48,
              "an answer of up to 48 bytes shares the header's line");
static_assert(sizeof(StagingHeader) == 24 && staging_inline_capacity == 40,
              "a command of up to 40 bytes shares the staging header's line");
static_assert(sizeof(ViewPins) == cache_line && std::is_standard_layout_v<ViewPins>,
              "a shell's pins are one line: the daemon reads one line per client per write");
static_assert(sizeof(ClientRecord) <= cache_line && sizeof(WaitWord) <= cache_line,
              "each client line holds what it names");
static_assert(client_deferred_offset % alignof(std::atomic<std::uint64_t>) == 0 &&
                  client_deferred_offset + sizeof(std::atomic<std::uint64_t>) <= cache_line,
              "the deferred request id shares the answer's line with its WaitWord, aligned");
static_assert(sizeof(StateBuffer) <= header_bytes,
              "a state buffer's header fits the line before its data");
static_assert(std::is_trivially_copyable_v<NameRecord> && std::is_standard_layout_v<NameRecord>,
              "the name record is written and read as bytes");
static_assert(sizeof(NameRecord) == 192 && offsetof(NameRecord, checksum) == 184,
              "the name record has no padding: every byte is covered by the checksum");
static_assert(request_counter_bits == 32, "request ids split into two 32-bit halves");

} // namespace venom::detail
