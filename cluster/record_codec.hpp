#pragma once
/// \file
/// A ScanRecord as bytes, for the message a worker rank sends to the coordinator. Fixed-width
/// little-endian fields (ranks of one job share an architecture); the label map travels
/// uncompressed (docs/SCALING.md weighs that against compressing on the worker).

#include <vector>

#include "io/cohort_store.hpp"

namespace nc::cluster {

std::vector<char> encode_record(const io::ScanRecord& record);

/// \throws Error on a truncated or malformed buffer.
io::ScanRecord decode_record(const std::vector<char>& bytes);

}  // namespace nc::cluster
