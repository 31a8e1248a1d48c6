// venom/detail/layout.hpp - the shared-memory layout of a venom channel: an ABI between
// processes built at different times. Only types, sizes and offsets live here; the algorithms
// that use them are in seqlock.hpp, command_queue.hpp, response_slot.hpp and the channels.
//
// A channel is one Boost.Interprocess managed segment ("venom.<name>.shm") holding a
// ControlBlock, constructed under the name "venom.control", and four regions allocated from
// the segment and reached through offset_ptr members of the ControlBlock:
//
//   segment  +-------------------------------------------------------------+
//            | Boost segment manager (allocator, name index)               |
//            +-------------------------------------------------------------+
//            | ControlBlock (named "venom.control"), one writer per line:  |
//            |  line 0  identity + config (daemon, before state = ready)   |
//            |  line 1  region offset_ptrs and strides (daemon, at create) |
//            |  line 2  queue tail          (shells: CAS)                  |
//            |  line 3  cmd_wait (shells notify, the daemon waits)         |
//            |  line 4  space_wait           (shells wait, daemon wakes)   |
//            |  line 5  state version, state_wait (daemon; readers wait)   |
//            |  line 6  queue head mirror, daemon counters (daemon)       |
//            +-------------------------------------------------------------+
//  slots --> | CmdSlot[cmd_slots]:      64-byte header | payload (cmd)      |  shells write, daemon reads
//  responses>| ResponseSlot[max_clients]: header | error text | payload   |  daemon writes, one client reads
//  clients ->| ClientRecord[max_clients]: two lines each (connect / request) |  each written by its client
//  state --> | StateBuffer[state_buffers]: header | data[data_size]      |  daemon writes, shells read
//            +-------------------------------------------------------------+
//
// Every stride is a whole number of cache lines, so no two writers share a line.
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
/// Bumped whenever any struct in this file changes.
inline constexpr std::uint32_t layout_version = 4;

/// Name under which the daemon constructs an offset_ptr to the ControlBlock in Boost's index (for
/// a debugger's view; venom itself finds the block through the NameRecord, never the index).
inline constexpr const char* control_block_name = "venom.control";

/// Lock bytes (see the header comment).
inline constexpr std::uint64_t name_lock_byte = 0;           ///< in the lock file
inline constexpr std::uint64_t segment_daemon_byte = 0;      ///< in the segment file
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

/// A futex-style event: waiters announce themselves in `waiters`, notifiers bump `epoch` and
/// wake only when waiters != 0, so the notify fast path makes no system call (waiter.hpp).
struct WaitWord {
    std::atomic<std::uint32_t> epoch;   ///< bumped by notifiers; the futex word
    std::atomic<std::uint32_t> waiters; ///< waiters currently announced (may over-count after a crash)
};

/// The channel's root object. Field owners are given per line; see the diagram above.
struct ControlBlock {
    // ---- line 0: identity and configuration. Written by the daemon before state = ready,
    // never again but for `state`, which stop(), run() and close() change (rarely); read by
    // shells after they see state == ready.
    std::uint64_t magic;
    std::uint32_t version;
    std::atomic<std::uint32_t> state; ///< channel_state
    std::uint64_t data_size;
    std::uint32_t cmd_slots;
    std::uint32_t max_clients;
    std::uint32_t max_cmd_size;
    std::uint32_t max_response_size;
    std::uint32_t state_buffers;
    std::uint32_t daemon_pid;
    std::uint64_t created_unix_ns;
    std::uint32_t wait_policy;  ///< the daemon's WaitPolicy (for tools)
    std::uint32_t reserved0;

    // ---- line 1: where the regions are. Written once at create.
    alignas(cache_line) boost::interprocess::offset_ptr<unsigned char> slots;
    boost::interprocess::offset_ptr<unsigned char> responses;
    boost::interprocess::offset_ptr<unsigned char> clients;
    boost::interprocess::offset_ptr<unsigned char> state_area;
    std::uint64_t slot_stride;
    std::uint64_t response_stride;
    std::uint64_t state_stride;
    std::uint64_t segment_size;

    // ---- line 2: queue tail. Shells CAS it to claim a slot.
    alignas(cache_line) std::atomic<std::uint64_t> tail;

    // ---- line 3: the daemon's wait for commands. Shells read `waiters` after every publish,
    // so nothing the daemon writes per command lives here.
    alignas(cache_line) WaitWord cmd_wait;

    // ---- line 4: shells waiting for a free queue slot; the daemon wakes them.
    alignas(cache_line) WaitWord space_wait;

    // ---- line 5: the state's published version (number of writes) and its waiters.
    alignas(cache_line) std::atomic<std::uint64_t> state_version;
    WaitWord state_wait;

    // ---- line 6: queue head mirror and daemon counters (daemon writes, tools read). The
    // daemon keeps the real head in its own memory; this copy is for tools.
    alignas(cache_line) std::atomic<std::uint64_t> head;
    std::atomic<std::uint64_t> commands_handled;
    std::atomic<std::uint64_t> commands_malformed; ///< dropped: out-of-range fields
    std::atomic<std::uint64_t> commands_stale;     ///< dropped: sender disconnected
    std::atomic<std::uint64_t> handler_errors;     ///< handler threw or answered too much
    std::atomic<std::uint64_t> slots_unblocked;    ///< slots skipped because their claimant died
};

/// Header of one command slot; the payload (max_cmd_size bytes) follows at +64.
/// Vyukov-style sequence in steps of two (command_queue.hpp): seq == 2pos means free for the
/// producer at position pos; 2pos + 1 published; the daemon frees it with 2(pos + cmd_slots).
struct CmdSlot {
    std::atomic<std::uint64_t> seq;
    std::atomic<std::uint64_t> request; ///< (client generation << 32) | request counter
    std::atomic<std::uint32_t> client;  ///< sender's client id
    std::atomic<std::uint32_t> length;  ///< payload bytes
};

/// Header of one client's response slot; then error_text_capacity bytes of error text, then
/// the payload (max_response_size bytes). Only the daemon writes it; only its client reads it.
struct ResponseSlot {
    std::atomic<std::uint64_t> seq;    ///< the request id this slot answers (published last)
    std::atomic<std::uint32_t> status; ///< status_ok or a venom::errc value
    std::atomic<std::uint32_t> length; ///< payload bytes (status_ok) or error text bytes
    WaitWord wait;                     ///< the client waits here for its answer
};
inline constexpr std::size_t error_text_capacity = 256;

/// One client slot's record, written by the client that holds the slot, in two lines: what
/// the daemon reads on every command (written at connect only), and what the client writes on
/// every request, so the daemon's read never waits for the client's last write.
struct ClientRecord {
    // ---- line 0: written at connect and disconnect; read by the daemon per command.
    std::atomic<std::uint32_t> state;       ///< client_state
    std::atomic<std::uint32_t> pid;
    std::atomic<std::uint64_t> generation;  ///< bumped at each connect; high half of request ids
    std::atomic<std::uint64_t> connected_unix_ns;
    // ---- line 1: written per request; read by the daemon only to unblock a dead claim.
    alignas(cache_line) std::atomic<std::uint64_t> pending_pos; ///< position being claimed, or no_pending
    std::atomic<std::uint64_t> requests;    ///< requests sent in this connection
};
inline constexpr std::uint64_t no_pending = ~std::uint64_t{0};

/// Header of one state buffer; the data (data_size bytes) follows at +64.
/// seq == 2v: holds complete version v. seq == 2v + 1: version v is being written.
struct StateBuffer {
    std::atomic<std::uint64_t> seq;
    std::atomic<std::uint64_t> length;
};

inline constexpr std::size_t header_bytes = cache_line; ///< every header is padded to one line

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
    std::uint64_t magic;            ///< name_record_magic
    std::uint32_t layout;           ///< layout_version of the daemon
    std::uint32_t record_size;      ///< sizeof(NameRecord)
    std::uint64_t incarnation;      ///< Windows: names the segment and events; Linux: 0
    std::uint64_t segment_size;     ///< bytes of the segment as the daemon created it
    std::uint64_t control_offset;   ///< the ControlBlock's offset from the segment's start
    std::uint64_t segment_dev;      ///< Linux: st_dev and st_ino of the segment file (Windows 0)
    std::uint64_t segment_ino;
    std::uint64_t created_unix_ns;  ///< equals ControlBlock::created_unix_ns
    std::uint32_t daemon_pid;       ///< equals ControlBlock::daemon_pid
    std::uint32_t daemon_uid;       ///< the daemon's effective uid (Windows 0)
    char name[record_name_capacity]; ///< the channel name, NUL-padded
    std::uint64_t checksum;         ///< FNV-1a of every byte before it
};

/// Adds one to a counter that only the calling process writes (daemon counters, a client's
/// request count): a plain load and store, no locked instruction on the hot path. Readers
/// (tools) see a value at most one behind.
inline void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

constexpr std::uint64_t round_up(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

// ---- compile-time proofs -------------------------------------------------------------------
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "32-bit atomics must be lock-free");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "64-bit atomics must be lock-free");
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && sizeof(std::atomic<std::uint32_t>) == 4,
              "atomics must have the size of their value (no embedded lock)");
static_assert(std::is_standard_layout_v<ControlBlock>, "ControlBlock must be standard layout");
static_assert(std::is_standard_layout_v<CmdSlot> && std::is_standard_layout_v<ResponseSlot> &&
                  std::is_standard_layout_v<ClientRecord> && std::is_standard_layout_v<StateBuffer>,
              "shared headers must be standard layout");
static_assert(sizeof(boost::interprocess::offset_ptr<unsigned char>) == 8, "offset_ptr is one word");
static_assert(offsetof(ControlBlock, magic) == 0, "magic opens the control block");
static_assert(offsetof(ControlBlock, slots) == 1 * cache_line, "region pointers on line 1");
static_assert(offsetof(ControlBlock, tail) == 2 * cache_line, "tail alone on line 2");
static_assert(offsetof(ControlBlock, cmd_wait) == 3 * cache_line,
              "the daemon's wait word must be a cache line away from tail (false sharing)");
static_assert(offsetof(ControlBlock, head) == 6 * cache_line,
              "the head mirror must stay off the lines shells read per request");
static_assert(offsetof(ControlBlock, space_wait) == 4 * cache_line, "space_wait on line 4");
static_assert(offsetof(ControlBlock, state_version) == 5 * cache_line, "state on line 5");
static_assert(offsetof(ControlBlock, commands_handled) == 6 * cache_line + 8, "counters on line 6");
static_assert(sizeof(ControlBlock) == 7 * cache_line, "ControlBlock is seven lines");
static_assert(sizeof(CmdSlot) <= header_bytes && sizeof(ResponseSlot) <= header_bytes &&
                  sizeof(StateBuffer) <= header_bytes,
              "each header fits the line before its payload");
static_assert(std::is_trivially_copyable_v<NameRecord> && std::is_standard_layout_v<NameRecord>,
              "the name record is written and read as bytes");
static_assert(sizeof(NameRecord) == 192 && offsetof(NameRecord, checksum) == 184,
              "the name record has no padding: every byte is covered by the checksum");
static_assert(sizeof(ClientRecord) == 2 * cache_line && offsetof(ClientRecord, pending_pos) == cache_line,
              "a client record is two lines: per-connection, then per-request");

} // namespace venom::detail
