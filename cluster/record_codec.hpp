#pragma once
/// \file
/// A ScanRecord as bytes, for the message a worker rank sends to the coordinator. Versioned
/// and validated: fixed-width little-endian fields (ranks of one job share an architecture),
/// the label map in its stored form (io/label_chunks.hpp: filtered chunks, about 0.5 MB for a
/// native CT instead of 131 MB raw), every count and length checked against the message and
/// the map's grid before anything is allocated or written.
///
/// Layout (version 4): "NCRC" u16 version | u64 row | u8 ok | str error | f64 icv_ml |
/// f64 seconds | str host | i32 rank | f64 started_at | f64 finished_at |
/// u64 n | n × f64 stage_seconds | u32 metrics { str name | u64 n | n × f64 } |
/// u32 qc measures { str name | u64 n | n × f64 } |
/// u8 has_labels { i64[3] size | f64[3] spacing | f64[3] origin | f64[9] direction |
/// u8 one_byte | u64 chunks { u64 bytes | bytes } }, where str is u64 length + bytes.

#include <optional>
#include <vector>

#include "core/error.hpp"
#include "io/cohort_store.hpp"

namespace nc::cluster {

inline constexpr std::uint16_t kRecordVersion = 4;

/// A message that is not a valid record. `row` is the scan's row when the message got that far.
class RecordError : public Error {
 public:
  RecordError(const std::string& what, std::optional<std::size_t> row) : Error(what, Cause::Runtime), row_(row) {}
  const std::optional<std::size_t>& row() const { return row_; }

 private:
  std::optional<std::size_t> row_;
};

std::vector<char> encode_record(const io::ScanRecord& record);

/// \throws RecordError on a truncated message, another version, a count or size past the
///         message's end, chunk counts that do not match the map's grid, or trailing bytes.
io::ScanRecord decode_record(const std::vector<char>& bytes);

}  // namespace nc::cluster
