// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI,
// ext4 and the journal's frames.
//
// Plain functions, thread-safe, no allocation. value() picks the SSE4.2
// `crc32` instruction when the CPU has it and a slicing-by-8 table
// otherwise; both paths are exposed so tests can compare them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qmesh::store::crc32c {

/// CRC32C of `n` bytes at `data`, continuing from `crc` (the value returned
/// for the preceding bytes; 0 to start): value(a+b) == value(b, value(a)).
uint32_t value(const void* data, size_t n, uint32_t crc = 0) noexcept;

/// The table-driven implementation (any CPU).
uint32_t value_portable(const void* data, size_t n, uint32_t crc = 0) noexcept;

/// The SSE4.2 implementation; call only if hardware_available().
uint32_t value_hardware(const void* data, size_t n, uint32_t crc = 0) noexcept;

/// Whether this CPU has the SSE4.2 crc32 instruction.
bool hardware_available() noexcept;

} // namespace qmesh::store::crc32c
