// SPDX-License-Identifier: BSL-1.0
// venom/detail/channel_map.hpp - a process-local, validated view of a channel segment.
//
// The ControlBlock reaches its regions through offset_ptr. Each process resolves them once,
// checks that every region lies inside its own mapping (whose size it took from the OS, not
// from the segment), and keeps the raw local addresses and the configuration here, so that no
// later value read from shared memory can steer an access outside the segment (the shared
// copies may be overwritten by anyone who can map it).
#pragma once

#include <venom/config.hpp>
#include <venom/detail/layout.hpp>
#include <venom/detail/platform.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

namespace venom::detail {

/// Smallest power of two >= n (n <= 2^31).
constexpr std::uint32_t next_pow2(std::uint32_t n) noexcept {
    std::uint32_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

/// Page sizes venom lays regions out for: any power of two in this range.
inline constexpr std::uint32_t min_page_size = 4096;
static_assert(sizeof(ControlBlock) <= min_page_size, "the control block stays within one page");
inline constexpr std::uint32_t max_page_size = 1u << 20;

/// Bytes each region needs, and the segment size for a config and page size (overflow-checked
/// by the limits: every product below stays far under 2^64 once ChannelConfig::validate()
/// has passed).
struct Sizes {
    std::uint64_t page;
    std::uint32_t ring_slots;
    std::uint64_t state_stride, response_stride, client_stride;
    std::uint64_t control, state, responses, shared, clients; ///< each a whole number of pages
    std::uint64_t block;                                      ///< all regions, in this order
    std::uint64_t segment;

    static Sizes of(const ChannelConfig& c,
                    std::uint64_t page = std::max<std::uint64_t>(page_size(), min_page_size)) {
        Sizes s{};
        s.page = page;
        // A client has at most one command queued: a ring larger than max_clients is never used.
        s.ring_slots = next_pow2(c.cmd_slots < c.max_clients ? c.cmd_slots : c.max_clients);
        s.state_stride = round_up(header_bytes + c.data_size, cache_line);
        s.response_stride =
            round_up(response_header_bytes + c.max_response_size + error_text_capacity, cache_line);
        s.client_stride = round_up(client_fixed_bytes + c.max_cmd_size, page);
        s.control = round_up(sizeof(ControlBlock), page);
        s.state = round_up(s.state_stride * c.state_buffers, page);
        s.responses = round_up(s.response_stride * c.max_clients, page);
        s.shared = round_up(sizeof(SharedLines) + std::uint64_t{s.ring_slots} * cache_line, page);
        s.clients = s.client_stride * c.max_clients;
        s.block = s.control + s.state + s.responses + s.shared + s.clients;
        // Boost's segment manager, the name index, the anchor, per-allocation headers, and a
        // page of alignment slack for the block: 64 KiB is several times what Boost 1.74 uses.
        constexpr std::uint64_t overhead = 64 * 1024;
        s.segment = round_up(overhead + page + s.block, page);
        if (s.segment > limits::max_segment_size)
            throw error(errc::invalid_config, "ChannelConfig: the channel would need " +
                                                  std::to_string(s.segment) +
                                                  " bytes of shared memory, over the limit of " +
                                                  std::to_string(limits::max_segment_size));
        return s;
    }
};

/// Event indices in an EventSet: the three shared WaitWords, then one per client's answer.
inline constexpr std::uint32_t event_cmd = 0, event_space = 1, event_state = 2,
                               event_response_base = 3;

struct ChannelMap {
    ControlBlock* cb = nullptr;
    const EventSet* events = nullptr; ///< this process's events; null: plain futex / sliced sleeps
    unsigned char* base = nullptr;    ///< the mapping's start (protections are set from it)
    SharedLines* shared = nullptr;
    unsigned char* ring = nullptr;
    unsigned char* responses = nullptr;
    unsigned char* clients = nullptr;
    unsigned char* state = nullptr;
    std::uint64_t response_stride = 0, state_stride = 0, client_stride = 0;
    std::uint64_t shared_bytes = 0; ///< the shared region: SharedLines and the ring
    std::uint64_t data_size = 0;
    std::uint64_t ring_mask = 0; ///< ring_slots - 1
    std::uint64_t claim_timeout_ns = 0;
    std::uint32_t page_size = 0;
    std::uint32_t cmd_slots = 0, ring_slots = 0, max_clients = 0, max_cmd_size = 0,
                  max_response_size = 0;
    std::uint32_t state_buffers = 0;

    /// The process-local event of a WaitWord of this channel.
    Event event(WaitWord& w, std::uint32_t index) const noexcept {
        return events != nullptr ? events->get(w, index) : Event{&w};
    }
    Event cmd_event() const noexcept { return event(shared->cmd_wait, event_cmd); }
    Event space_event() const noexcept { return event(shared->space_wait, event_space); }
    Event state_event() const noexcept { return event(shared->state_wait, event_state); }
    Event response_event(std::uint32_t id) const noexcept {
        return event(response_wait(id), event_response_base + id);
    }

    /// The queue slot of position pos (a mask: ring_slots is a power of two).
    CmdSlot& slot(std::uint64_t pos) const noexcept {
        return *reinterpret_cast<CmdSlot*>(ring + (pos & ring_mask) * cache_line);
    }
    ResponseSlot& response(std::uint32_t id) const noexcept {
        return *reinterpret_cast<ResponseSlot*>(responses + id * response_stride);
    }
    unsigned char* response_payload(ResponseSlot& r) const noexcept {
        return reinterpret_cast<unsigned char*>(&r) + response_header_bytes;
    }
    char* response_error_text(ResponseSlot& r) const noexcept {
        return reinterpret_cast<char*>(&r) + response_header_bytes + max_response_size;
    }
    unsigned char* client_area(std::uint32_t id) const noexcept {
        return clients + id * client_stride;
    }
    ClientRecord& client(std::uint32_t id) const noexcept {
        return *reinterpret_cast<ClientRecord*>(client_area(id) + client_record_line * cache_line);
    }
    std::atomic<std::uint64_t>& client_requests(std::uint32_t id) const noexcept {
        return *reinterpret_cast<std::atomic<std::uint64_t>*>(client_area(id) +
                                                              client_requests_line * cache_line);
    }
    WaitWord& response_wait(std::uint32_t id) const noexcept {
        return *reinterpret_cast<WaitWord*>(client_area(id) + client_wait_line * cache_line);
    }
    /// The id of client id's request whose answer the daemon deferred (layout.hpp).
    std::atomic<std::uint64_t>& answer_deferred(std::uint32_t id) const noexcept {
        return *reinterpret_cast<std::atomic<std::uint64_t>*>(
            client_area(id) + client_wait_line * cache_line + client_deferred_offset);
    }
    ViewPins& pins(std::uint32_t id) const noexcept {
        return *reinterpret_cast<ViewPins*>(client_area(id) + client_pins_line * cache_line);
    }
    StagingHeader& staging(std::uint32_t id) const noexcept {
        return *reinterpret_cast<StagingHeader*>(client_area(id) +
                                                 client_staging_line * cache_line);
    }
    unsigned char* staging_data(std::uint32_t id) const noexcept {
        return reinterpret_cast<unsigned char*>(&staging(id)) + staging_header_bytes;
    }
    StateBuffer& buffer(std::uint32_t i) const noexcept {
        return *reinterpret_cast<StateBuffer*>(state + i * state_stride);
    }
    unsigned char* buffer_data(StateBuffer& b) const noexcept {
        return reinterpret_cast<unsigned char*>(&b) + header_bytes;
    }
    /// Offsets from the mapping's start, for protections.
    std::uint64_t offset_of(const void* p) const noexcept {
        return static_cast<std::uint64_t>(static_cast<const unsigned char*>(p) - base);
    }

    /// Builds the view from a ControlBlock found in [base, base + size), where `size` is the
    /// real size of this process's mapping; throws incompatible_layout or corrupt_channel when
    /// anything is off. Region offsets are checked as integers before any pointer is formed.
    static ChannelMap validate(ControlBlock* cb, unsigned char* base, std::uint64_t size) {
        auto corrupt = [](const std::string& what) {
            throw error(errc::corrupt_channel, "channel segment: " + what);
        };
        const auto cb_at = static_cast<std::uint64_t>(reinterpret_cast<unsigned char*>(cb) - base);
        if (reinterpret_cast<unsigned char*>(cb) < base || cb_at > size ||
            size - cb_at < sizeof(ControlBlock) || cb_at % cache_line != 0)
            corrupt("control block outside the segment or misaligned");
        if (cb->magic != channel_magic)
            throw error(errc::incompatible_layout, "the segment has no venom magic number");
        if (cb->version != layout_version)
            throw error(errc::incompatible_layout,
                        "the segment has layout version " + std::to_string(cb->version) +
                            ", this build reads version " + std::to_string(layout_version) +
                            ": build daemon and shells with the same venom");
        const std::uint32_t page = cb->page_size;
        if (page < min_page_size || page > max_page_size || (page & (page - 1)) != 0 ||
            cb_at % page != 0)
            corrupt("its page size " + std::to_string(page) +
                    " is not a power of two in 4 KiB..1 MiB "
                    "that the control block is aligned to");
        ChannelConfig c{cb->data_size, cb->cmd_slots, cb->max_clients};
        c.max_cmd_size = cb->max_cmd_size;
        c.max_response_size = cb->max_response_size;
        c.state_buffers = cb->state_buffers;
        Sizes s{};
        try {
            c.validate();
            s = Sizes::of(c, page);
        } catch (const error& e) {
            corrupt(std::string("its configuration is out of range: ") + e.what());
        }
        if (cb->ring_slots != s.ring_slots) corrupt("its ring size does not match its cmd_slots");
        const std::uint64_t claim_ns = cb->claim_timeout_ns;
        if (claim_ns < 1000000u || claim_ns > 10000000000ull)
            corrupt("its claim timeout is out of range");
        // Where a region starts, from the offset_ptr member at `field`: the pointer's offset is
        // relative to the member itself. Computed in unsigned integers (wrap-around is defined,
        // and out-of-range values fail the bound check), never as a pointer first.
        auto region = [&](const boost::interprocess::offset_ptr<unsigned char>& p, std::uint64_t n,
                          const char* what) -> unsigned char* {
            const auto field =
                static_cast<std::uint64_t>(reinterpret_cast<const unsigned char*>(&p) - base);
            const std::uint64_t at = field + static_cast<std::uint64_t>(p.get_offset());
            if (at > size || size - at < n)
                corrupt(std::string("the ") + what + " region lies outside the segment");
            if (at % page != 0) corrupt(std::string("the ") + what + " region is not page aligned");
            return base + at;
        };
        ChannelMap m;
        m.cb = cb;
        m.base = base;
        m.state_stride = cb->state_stride;
        m.response_stride = cb->response_stride;
        m.client_stride = cb->client_stride;
        if (m.state_stride != s.state_stride || m.response_stride != s.response_stride ||
            m.client_stride != s.client_stride)
            corrupt("region strides do not match its configuration");
        m.state = region(cb->state_area, s.state, "state");
        m.responses = region(cb->responses, s.responses, "response slot");
        unsigned char* shared = region(cb->shared, s.shared, "shared");
        m.clients = region(cb->clients, s.clients, "client");
        // No two regions (nor a region and the control block's pages) may overlap: a forged
        // pointer could otherwise make one client's writes land on what others read, or put a
        // page a shell maps writable under what it must see read-only.
        const std::pair<const unsigned char*, std::uint64_t> parts[] = {
            {reinterpret_cast<const unsigned char*>(cb), s.control},
            {m.state, s.state},
            {m.responses, s.responses},
            {shared, s.shared},
            {m.clients, s.clients}};
        for (std::size_t i = 0; i < std::size(parts); ++i)
            for (std::size_t j = i + 1; j < std::size(parts); ++j) {
                const bool apart = parts[i].first + parts[i].second <= parts[j].first ||
                                   parts[j].first + parts[j].second <= parts[i].first;
                if (!apart) corrupt("two of its regions overlap");
            }
        if (s.control > size - cb_at) corrupt("the control block's pages run past the segment");
        m.shared = reinterpret_cast<SharedLines*>(shared);
        m.ring = shared + sizeof(SharedLines);
        m.shared_bytes = s.shared;
        m.data_size = c.data_size;
        m.cmd_slots = c.cmd_slots;
        m.ring_slots = s.ring_slots;
        m.ring_mask = s.ring_slots - 1;
        m.claim_timeout_ns = claim_ns;
        m.page_size = page;
        m.max_clients = c.max_clients;
        m.max_cmd_size = c.max_cmd_size;
        m.max_response_size = c.max_response_size;
        m.state_buffers = c.state_buffers;
        return m;
    }
};

} // namespace venom::detail
