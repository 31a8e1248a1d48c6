// venom/detail/channel_map.hpp - a process-local, validated view of a channel segment.
//
// The ControlBlock reaches its regions through offset_ptr. Each process resolves them once,
// checks that every region lies inside its own mapping (whose size it took from the OS, not
// from the segment), and keeps the raw local addresses
// and the configuration here, so that no later value read from shared memory can steer an
// access outside the segment (the shared copies may be overwritten by anyone who can map it).
#pragma once

#include <venom/config.hpp>
#include <venom/detail/layout.hpp>
#include <venom/detail/platform.hpp>

#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

namespace venom::detail {

/// Bytes each region needs, and the segment size for a config (overflow-checked by the limits:
/// every product below stays far under 2^64 once ChannelConfig::validate() has passed).
struct Sizes {
    std::uint64_t slot_stride, response_stride, state_stride;
    std::uint64_t slots, responses, clients, state;
    std::uint64_t segment;

    static Sizes of(const ChannelConfig& c) {
        Sizes s{};
        s.slot_stride = round_up(header_bytes + c.max_cmd_size, cache_line);
        s.response_stride =
            round_up(header_bytes + error_text_capacity + c.max_response_size, cache_line);
        s.state_stride = round_up(header_bytes + c.data_size, cache_line);
        s.slots = s.slot_stride * c.cmd_slots;
        s.responses = s.response_stride * c.max_clients;
        s.clients = std::uint64_t{sizeof(ClientRecord)} * c.max_clients;
        s.state = s.state_stride * c.state_buffers;
        // Boost's segment manager, the name index and per-allocation headers plus alignment
        // slack of the five allocations: 64 KiB is several times what Boost 1.74 uses.
        constexpr std::uint64_t overhead = 64 * 1024;
        s.segment = round_up(overhead + sizeof(ControlBlock) + s.slots + s.responses + s.clients +
                                 s.state + 5 * 2 * cache_line,
                             4096);
        if (s.segment > limits::max_segment_size)
            throw error(errc::invalid_config,
                        "ChannelConfig: the channel would need " + std::to_string(s.segment) +
                            " bytes of shared memory, over the limit of " +
                            std::to_string(limits::max_segment_size));
        return s;
    }
};

/// Event indices in an EventSet: the three ControlBlock WaitWords, then one per response slot.
inline constexpr std::uint32_t event_cmd = 0, event_space = 1, event_state = 2,
                               event_response_base = 3;

struct ChannelMap {
    ControlBlock* cb = nullptr;
    const EventSet* events = nullptr; ///< this process's events; null: plain futex / sliced sleeps
    unsigned char* slots = nullptr;
    unsigned char* responses = nullptr;
    unsigned char* clients = nullptr;
    unsigned char* state = nullptr;
    std::uint64_t slot_stride = 0, response_stride = 0, state_stride = 0;
    std::uint64_t data_size = 0;
    std::uint32_t cmd_slots = 0, max_clients = 0, max_cmd_size = 0, max_response_size = 0;
    std::uint32_t state_buffers = 0;

    /// The process-local event of a WaitWord of this channel.
    Event event(WaitWord& w, std::uint32_t index) const noexcept {
        return events != nullptr ? events->get(w, index) : Event{&w};
    }
    Event cmd_event() const noexcept { return event(cb->cmd_wait, event_cmd); }
    Event space_event() const noexcept { return event(cb->space_wait, event_space); }
    Event state_event() const noexcept { return event(cb->state_wait, event_state); }
    Event response_event(std::uint32_t id) const noexcept {
        return event(response(id).wait, event_response_base + id);
    }

    CmdSlot& slot(std::uint64_t pos) const noexcept {
        return *reinterpret_cast<CmdSlot*>(slots + (pos % cmd_slots) * slot_stride);
    }
    unsigned char* slot_payload(CmdSlot& s) const noexcept {
        return reinterpret_cast<unsigned char*>(&s) + header_bytes;
    }
    ResponseSlot& response(std::uint32_t id) const noexcept {
        return *reinterpret_cast<ResponseSlot*>(responses + id * response_stride);
    }
    char* response_error_text(ResponseSlot& r) const noexcept {
        return reinterpret_cast<char*>(&r) + header_bytes;
    }
    unsigned char* response_payload(ResponseSlot& r) const noexcept {
        return reinterpret_cast<unsigned char*>(&r) + header_bytes + error_text_capacity;
    }
    ClientRecord& client(std::uint32_t id) const noexcept {
        return *reinterpret_cast<ClientRecord*>(clients + id * sizeof(ClientRecord));
    }
    StateBuffer& buffer(std::uint32_t i) const noexcept {
        return *reinterpret_cast<StateBuffer*>(state + i * state_stride);
    }
    unsigned char* buffer_data(StateBuffer& b) const noexcept {
        return reinterpret_cast<unsigned char*>(&b) + header_bytes;
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
        ChannelConfig c{cb->data_size, cb->cmd_slots, cb->max_clients};
        c.max_cmd_size = cb->max_cmd_size;
        c.max_response_size = cb->max_response_size;
        c.state_buffers = cb->state_buffers;
        Sizes s{};
        try {
            c.validate();
            s = Sizes::of(c);
        } catch (const error& e) {
            corrupt(std::string("its configuration is out of range: ") + e.what());
        }
        // Where a region starts, from the offset_ptr member at `field`: the pointer's offset is
        // relative to the member itself. Computed in unsigned integers (wrap-around is defined,
        // and out-of-range values fail the bound check), never as a pointer first.
        auto region = [&](const boost::interprocess::offset_ptr<unsigned char>& p, std::uint64_t n,
                          const char* what) -> unsigned char* {
            const auto field = static_cast<std::uint64_t>(reinterpret_cast<const unsigned char*>(&p) - base);
            const std::uint64_t at = field + static_cast<std::uint64_t>(p.get_offset());
            if (at > size || size - at < n) corrupt(std::string("the ") + what + " region lies outside the segment");
            if (at % cache_line != 0) corrupt(std::string("the ") + what + " region is not cache-line aligned");
            return base + at;
        };
        ChannelMap m;
        m.cb = cb;
        m.slot_stride = cb->slot_stride;
        m.response_stride = cb->response_stride;
        m.state_stride = cb->state_stride;
        if (m.slot_stride != s.slot_stride || m.response_stride != s.response_stride ||
            m.state_stride != s.state_stride)
            corrupt("region strides do not match its configuration");
        m.slots = region(cb->slots, s.slots, "command slot");
        m.responses = region(cb->responses, s.responses, "response slot");
        m.clients = region(cb->clients, s.clients, "client record");
        m.state = region(cb->state_area, s.state, "state");
        // No two regions (nor a region and the control block) may overlap: a forged pointer
        // could otherwise make one client's writes land on what others read.
        const std::pair<const unsigned char*, std::uint64_t> parts[] = {
            {reinterpret_cast<const unsigned char*>(cb), sizeof(ControlBlock)},
            {m.slots, s.slots}, {m.responses, s.responses}, {m.clients, s.clients}, {m.state, s.state}};
        for (std::size_t i = 0; i < std::size(parts); ++i)
            for (std::size_t j = i + 1; j < std::size(parts); ++j) {
                const bool apart = parts[i].first + parts[i].second <= parts[j].first ||
                                   parts[j].first + parts[j].second <= parts[i].first;
                if (!apart) corrupt("two of its regions overlap");
            }
        m.data_size = c.data_size;
        m.cmd_slots = c.cmd_slots;
        m.max_clients = c.max_clients;
        m.max_cmd_size = c.max_cmd_size;
        m.max_response_size = c.max_response_size;
        m.state_buffers = c.state_buffers;
        return m;
    }
};

} // namespace venom::detail
