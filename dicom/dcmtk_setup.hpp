#pragma once
/// \file
/// DCMTK's process-wide setup, done once by whichever DICOM function runs first: its logger
/// silenced below fatal (every problem with a file becomes neurocohort's own reason naming the
/// file), and the decoders of compressed transfer syntaxes (JPEG, JPEG-LS, RLE) registered.
/// Only dicom/ sources include this header.

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <mutex>

namespace nc::dicom {

inline void initialise_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

}  // namespace nc::dicom
