#include "io/file_hash.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "core/error.hpp"

namespace nc::io {

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot read the file to hash it");
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), std::size_t(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int n = 0; n < length; ++n) {
    out += hex[digest[n] >> 4];
    out += hex[digest[n] & 15];
  }
  return out;
}

}  // namespace nc::io
