// save_module / load_module: the key layout and the file format are in
// layers/serialize.h. Loading reads the whole file, checks the container, builds a plan
// of every copy it will make, checks the plan, then copies, so a bad file changes nothing.
#include "r2g2/layers/serialize.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include "r2g2/core/autograd.h"
#include "r2g2/core/checkpoint.h"
#include "r2g2/core/error.h"
#include "r2g2/core/json.h"
#include "r2g2/kernels/common.h"
#include "r2g2/layers/bayes_module.h"

namespace r2g2 {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is copied to and from memory as is");

namespace {

const std::string kFormatKey = "module/format";
const std::string kFormat = "1";
const std::string kDataChecksumKey = "module/data_crc32";
const std::string kParamPrefix = "param/";
const std::string kOptimizerStatePrefix = "optimizer/";  // + "<state list>/<parameter name>"
const std::string kOptimizerKindKey = "optimizer/kind";
const std::string kOptimizerStepsKey = "optimizer/steps";
const std::string kGeneratorPrefix = "generator/";
const std::string kUserPrefix = "user/";

// "'a', 'b', 'c' and 2 more": enough to act on without flooding the message.
std::string quoted_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 5;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) out += detail::concat(" and ", names.size() - kShown, " more");
  return out;
}

std::string state_key(const Optimizer::StateList& list, const std::string& param_name) {
  return kOptimizerStatePrefix + list.name + "/" + param_name;
}

// The module's name for each of the optimizer's parameters (matched by identity, so the
// optimizer may list them in any order, or only some of them).
std::vector<std::string> names_in_module(const Module& module, const Optimizer& optimizer, const char* who) {
  const auto named = module.named_parameters();
  std::vector<std::string> names;
  const auto& params = optimizer.params();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string* found = nullptr;
    for (const auto& [name, p] : named)
      if (p.same(params[i])) found = &name;
    R2G2_CHECK(found != nullptr, who, ": optimizer parameter ", i, " of shape ", shape_str(params[i].shape()),
               " is not a parameter of the module (build the optimizer from module.parameters())");
    names.push_back(*found);
  }
  return names;
}

std::string generator_key(const std::string& name, const char* field) {
  return kGeneratorPrefix + name + "/" + field;
}

// --- the safetensors container -----------------------------------------------------

constexpr size_t kLengthBytes = 8;  // the u64 header length that opens the file
const std::string kMetadataEntry = "__metadata__";
constexpr char kCheckpointMagic[] = "R2G2CKPT";

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::i32:
      return "I32";
  }
  return "?";
}

std::optional<DType> dtype_from_safetensors(const std::string& name) {
  for (DType dtype : {DType::f32, DType::f64, DType::i32})
    if (name == safetensors_dtype(dtype)) return dtype;
  return std::nullopt;
}

uint32_t crc32_of(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes 32-bit lengths: feed large data in pieces.
  while (!data.empty()) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(data.size(), size_t{1} << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), piece);
    data.remove_prefix(piece);
  }
  return static_cast<uint32_t>(crc);
}

std::string hex8(uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof(text), "%08x", value);
  return text;
}

// The length field and the JSON header (padded with spaces to a multiple of 8 bytes, as
// the reference writer does, so the data section starts 8-aligned), then the data.
struct EncodedFile {
  std::string header;
  std::string data;
};

EncodedFile encode_safetensors(const std::map<std::string, Tensor>& tensors,
                               std::map<std::string, std::string> metadata) {
  NoGrad no_grad;
  struct Entry {
    const std::string* name;
    Tensor host;
  };
  std::vector<Entry> entries;
  for (const auto& [name, t] : tensors) {
    R2G2_CHECK(json::is_valid_utf8(name), "save_module: the name '", name,
               "' is not valid UTF-8, which a safetensors header requires");
    entries.push_back({&name, t.detach().to(Device::cpu()).contiguous()});
  }
  // Widest elements first, as the reference writer orders them: every tensor then starts
  // at a multiple of its element size.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return dtype_size(a.host.dtype()) > dtype_size(b.host.dtype());
  });
  EncodedFile out;
  for (const Entry& e : entries) {
    const size_t bytes = static_cast<size_t>(e.host.numel()) * dtype_size(e.host.dtype());
    if (bytes > 0) out.data.append(static_cast<const char*>(e.host.raw_data()), bytes);
  }
  metadata[kDataChecksumKey] = hex8(crc32_of(out.data));

  json::Value meta = json::Value::object();
  for (const auto& [key, value] : metadata) {
    R2G2_CHECK(json::is_valid_utf8(key) && json::is_valid_utf8(value), "save_module: metadata '", key,
               "' is not valid UTF-8, which a safetensors header requires");
    meta.set(key, json::Value(value));
  }
  json::Value header = json::Value::object();
  header.set(kMetadataEntry, std::move(meta));
  int64_t offset = 0;
  for (const Entry& e : entries) {
    json::Value shape = json::Value::array();
    for (int64_t d : e.host.shape()) shape.push(json::Value(d));
    const int64_t end = offset + e.host.numel() * static_cast<int64_t>(dtype_size(e.host.dtype()));
    json::Value entry = json::Value::object();
    entry.set("dtype", json::Value(safetensors_dtype(e.host.dtype())));
    entry.set("shape", std::move(shape));
    entry.set("data_offsets",
              std::move(json::Value::array().push(json::Value(offset)).push(json::Value(end))));
    header.set(*e.name, std::move(entry));
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t length = text.size();
  out.header.assign(reinterpret_cast<const char*>(&length), kLengthBytes);
  out.header += text;
  return out;
}

// A file read back: its tensors and metadata (the container checked), and the checksum
// of its data section.
struct DecodedFile {
  Checkpoint contents;
  uint32_t data_crc = 0;
};

class SafetensorsReader {
 public:
  SafetensorsReader(const std::string& path, const std::string& file) : path_(path), file_(file) {}

  DecodedFile read() {
    if (file_.size() >= 8 && file_.compare(0, 8, kCheckpointMagic) == 0)
      fail(
          "was not written by save_module: it is a core/checkpoint.h file (\"R2G2CKPT\"); save_module "
          "writes safetensors");
    if (file_.size() < kLengthBytes)
      fail("is truncated: ", file_.size(), " bytes, shorter than the ", kLengthBytes, "-byte header length");
    uint64_t header_bytes;
    std::memcpy(&header_bytes, file_.data(), kLengthBytes);
    const uint64_t after_length = file_.size() - kLengthBytes;
    if (header_bytes > after_length)
      fail("is truncated or not safetensors: its header length (at byte 0) announces ", header_bytes,
           " bytes of JSON, beyond the end of the file (", after_length, " bytes follow)");
    data_begin_ = kLengthBytes + header_bytes;
    json::Value header;
    try {
      header = json::parse(std::string_view(file_).substr(kLengthBytes, header_bytes));
    } catch (const json::ParseError& e) {
      fail_at(kLengthBytes + e.offset, "has an invalid JSON header: ", e.reason);
    }
    if (!header.is_object())
      fail_at(kLengthBytes, "has a header that is ", json::kind_name(header.kind()), ", not an object");

    DecodedFile out;
    std::vector<Span> spans;
    for (const auto& [name, value] : header.members()) {
      if (name == kMetadataEntry)
        read_metadata(value, out.contents.metadata);
      else
        spans.push_back(read_entry(name, value));
    }
    check_layout(spans);
    const std::string_view data = std::string_view(file_).substr(data_begin_);
    out.data_crc = crc32_of(data);
    for (const Span& s : spans) {
      Tensor host = Tensor::empty(s.shape, s.dtype, Device::cpu());
      if (s.end > s.begin) std::memcpy(host.raw_data(), data.data() + s.begin, s.end - s.begin);
      out.contents.tensors.emplace(*s.name, host);
    }
    return out;
  }

 private:
  // One tensor entry of the header.
  struct Span {
    const std::string* name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;  // in the data section
    size_t at;            // where the entry starts in the file
  };

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error(detail::concat("load_module: '", path_, "' ", parts...));
  }
  template <class... Parts>
  [[noreturn]] void fail_at(size_t at, const Parts&... parts) const {
    fail(parts..., " (at byte ", at, ")");
  }
  size_t at(const json::Value& v) const { return kLengthBytes + v.offset(); }

  void read_metadata(const json::Value& value, std::map<std::string, std::string>& metadata) const {
    if (!value.is_object())
      fail_at(at(value), "has a '", kMetadataEntry, "' entry that is ", json::kind_name(value.kind()),
              ", not an object");
    for (const auto& [key, entry] : value.members()) {
      if (!entry.is_string())
        fail_at(at(entry), "has metadata '", key, "' that is ", json::kind_name(entry.kind()),
                "; safetensors metadata values are strings");
      metadata.emplace(key, entry.as_string());
    }
  }

  Span read_entry(const std::string& name, const json::Value& value) const {
    const std::string what = "tensor '" + name + "'";
    if (!value.is_object())
      fail_at(at(value), "has ", what, " described by ", json::kind_name(value.kind()), ", not an object");
    for (const auto& member : value.members())
      if (member.key != "dtype" && member.key != "shape" && member.key != "data_offsets")
        fail_at(at(member.value), "has ", what, " with an unexpected field '", member.key, "'");
    auto field = [&](const char* key, json::Value::Kind kind) -> const json::Value& {
      const json::Value* f = value.find(key);
      if (f == nullptr) fail_at(at(value), "has ", what, " without a '", key, "' field");
      if (f->kind() != kind)
        fail_at(at(*f), "has ", what, " whose '", key, "' is ", json::kind_name(f->kind()), ", not ",
                json::kind_name(kind));
      return *f;
    };
    Span span{.name = &name, .dtype = DType::f32, .shape = {}, .begin = 0, .end = 0, .at = at(value)};
    const json::Value& dtype = field("dtype", json::Value::Kind::string);
    const auto known = dtype_from_safetensors(dtype.as_string());
    if (!known)
      fail_at(at(dtype), "has ", what, " of dtype '", dtype.as_string(),
              "'; this build reads F32, F64 and I32");
    span.dtype = *known;

    const json::Value& shape = field("shape", json::Value::Kind::array);
    if (shape.items().size() > static_cast<size_t>(kernels::kMaxDims))
      fail_at(at(shape), "has ", what, " with ", shape.items().size(), " dimensions; at most ",
              kernels::kMaxDims, " are supported");
    // Bounded over the non-zero dimensions: an empty tensor's sizes still multiply into
    // its strides, so they must not overflow either.
    uint64_t extent = 1;
    bool empty = false;
    for (const json::Value& d : shape.items()) {
      if (!d.is_integer() || d.as_integer() < 0)
        fail_at(at(d), "has ", what, " whose shape holds ",
                d.is_integer() ? d.dump() : json::kind_name(d.kind()),
                "; dimensions are non-negative integers");
      const auto dim = static_cast<uint64_t>(d.as_integer());
      if (dim > 0 && extent > (std::numeric_limits<uint64_t>::max() / 8) / dim)
        fail_at(at(shape), "has ", what, " with an implausibly large shape ", shape.dump());
      if (dim > 0) extent *= dim;
      empty = empty || dim == 0;
      span.shape.push_back(d.as_integer());
    }
    const uint64_t numel = empty ? 0 : extent;

    const json::Value& offsets = field("data_offsets", json::Value::Kind::array);
    const auto& pair = offsets.items();
    if (pair.size() != 2 || !pair[0].is_integer() || !pair[1].is_integer())
      fail_at(at(offsets), "has ", what, " whose data_offsets ", offsets.dump(),
              " are not two integers [begin, end]");
    if (pair[0].as_integer() < 0 || pair[1].as_integer() < pair[0].as_integer())
      fail_at(at(offsets), "has ", what, " whose data_offsets ", offsets.dump(),
              " are out of range: they need 0 <= begin <= end");
    span.begin = static_cast<uint64_t>(pair[0].as_integer());
    span.end = static_cast<uint64_t>(pair[1].as_integer());
    const uint64_t needed = numel * dtype_size(span.dtype);
    if (span.end - span.begin != needed)
      fail_at(at(offsets), "has ", what, " of dtype ", dtype.as_string(), " and shape ",
              shape_str(span.shape), ", which takes ", needed, " bytes, but its data_offsets ",
              offsets.dump(), " span ", span.end - span.begin);
    return span;
  }

  // The tensors' data must tile the data section: no gap, no overlap, nothing after.
  void check_layout(std::vector<Span>& spans) const {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
    });
    uint64_t covered = 0;
    const Span* previous = nullptr;
    for (const Span& s : spans) {
      if (s.begin > covered)
        fail_at(s.at, "has a gap in its data: bytes [", covered, ", ", s.begin,
                ") of the data section belong to no tensor (the next is tensor '", *s.name, "')");
      if (s.begin < covered)
        fail_at(s.at, "has overlapping data: tensor '", *s.name, "' at [", s.begin, ", ", s.end,
                ") overlaps tensor '", *previous->name, "' at [", previous->begin, ", ", previous->end, ")");
      covered = s.end;
      previous = &s;
    }
    const uint64_t present = file_.size() - data_begin_;
    if (covered > present)
      fail("is truncated: its tensors need ", covered, " bytes of data after the header but only ", present,
           " follow (the file should be ", data_begin_ + covered, " bytes, it is ", file_.size(), ")");
    if (covered < present)
      fail_at(data_begin_ + covered, "has a gap in its data: ", present - covered,
              " bytes after the last tensor belong to no tensor");
  }

  const std::string& path_;
  const std::string& file_;
  size_t data_begin_ = 0;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  R2G2_CHECK(in.good(), "load_module: cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  R2G2_CHECK(!in.bad(), "load_module: error reading '", path, "' (is it a directory?)");
  return std::move(contents).str();
}

// One tensor to overwrite with one from the file.
struct Copy {
  Tensor destination;
  const Tensor* source;
};

class Loader {
 public:
  Loader(const std::string& path, const LoadOptions& options) : path_(path), options_(options) {
    const std::string bytes = read_whole_file(path);
    DecodedFile decoded = SafetensorsReader(path, bytes).read();
    file_ = std::move(decoded.contents);
    auto format = file_.metadata.find(kFormatKey);
    if (format == file_.metadata.end())
      fail("was not written by save_module: it has no '", kFormatKey, "' metadata entry");
    if (format->second != kFormat)
      fail("has module format '", format->second, "'; this build reads format '", kFormat, "'");
    auto checksum = file_.metadata.find(kDataChecksumKey);
    if (checksum == file_.metadata.end())
      fail("is inconsistent: it has no '", kDataChecksumKey, "' metadata entry");
    if (checksum->second != hex8(decoded.data_crc))
      fail("is corrupt: the CRC-32 of its tensor data is ", hex8(decoded.data_crc), " but '",
           kDataChecksumKey, "' records ", checksum->second);
  }

  void plan_parameters(const Module& module) {
    std::set<std::string> expected;
    std::vector<std::string> missing;
    for (const auto& [name, p] : module.named_parameters()) {
      expected.insert(name);
      auto it = file_.tensors.find(kParamPrefix + name);
      if (it == file_.tensors.end()) {
        missing.push_back(name);
        continue;
      }
      check_like(it->second, p, "parameter '" + name + "'", "the module's");
      copies_.push_back({p, &it->second});
    }
    std::vector<std::string> unexpected;
    for (const auto& [key, t] : file_.tensors)
      if (key.starts_with(kParamPrefix) && !expected.contains(key.substr(kParamPrefix.size())))
        unexpected.push_back(key.substr(kParamPrefix.size()));
    if (!options_.strict) return;
    if (!missing.empty())
      fail("lacks ", missing.size(), " of the module's ", expected.size(),
           " parameters: ", quoted_list(missing),
           " (LoadOptions::strict = false keeps their current values)");
    if (!unexpected.empty())
      fail("holds parameters the module does not have: ", quoted_list(unexpected),
           " (LoadOptions::strict = false ignores them)");
  }

  void plan_optimizer(const Module& module, Optimizer& optimizer) {
    const std::string kind = optimizer.kind();
    auto stored = file_.metadata.find(kOptimizerKindKey);
    if (stored == file_.metadata.end()) fail("holds no optimizer state (it was saved without one)");
    if (stored->second != kind)
      fail("holds the state of a '", stored->second, "' optimizer; the optimizer to restore is '", kind, "'");
    optimizer_ = &optimizer;
    steps_ = uint_entry(kOptimizerStepsKey);
    if (steps_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("is inconsistent: '", kOptimizerStepsKey, "' = ", steps_, " does not fit in int64");
    const auto names = names_in_module(module, optimizer, "load_module");
    for (const Optimizer::StateList& list : optimizer.state_lists())
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string key = state_key(list, names[i]);
        Tensor* slot = &(*list.tensors)[i];
        auto it = file_.tensors.find(key);
        if (it == file_.tensors.end()) {
          // A lazy entry absent from the file had not been created yet when it was saved.
          if (list.lazy)
            state_.push_back({slot, Tensor()});
          else if (options_.strict)
            fail("has no ", kind, " state '", key, "' for parameter '", names[i], "'");
          continue;
        }
        // Against the parameter, not the current state: after Module::to the state
        // follows its parameter's device and dtype only at the next step.
        const Tensor& param = optimizer.params()[i];
        check_like(it->second, param, kind + " state '" + key + "'", "parameter '" + names[i] + "'");
        state_.push_back({slot, it->second.to(param.device()).contiguous()});
      }
  }

  void plan_generators(const std::map<std::string, Generator*>& generators) {
    for (const auto& [name, gen] : generators) {
      R2G2_CHECK(gen != nullptr, "load_module: generator '", name, "' is a null pointer");
      const std::string seed_key = generator_key(name, "seed");
      if (!file_.metadata.contains(seed_key)) fail("has no generator '", name, "'", present_generators());
      generators_.push_back(
          {gen, Generator(uint_entry(seed_key), uint_entry(generator_key(name, "offset")))});
    }
  }

  // Everything was checked: nothing below throws for a reason the file could cause.
  void apply(std::map<std::string, std::string>* metadata) {
    NoGrad no_grad;
    for (auto& copy : copies_) copy.destination.copy_(*copy.source);
    for (auto& [slot, value] : state_) *slot = value;
    if (optimizer_ != nullptr) optimizer_->set_steps_taken(static_cast<int64_t>(steps_));
    for (auto& [gen, value] : generators_) *gen = value;
    if (metadata == nullptr) return;
    metadata->clear();
    for (const auto& [key, value] : file_.metadata)
      if (key.starts_with(kUserPrefix)) (*metadata)[key.substr(kUserPrefix.size())] = value;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw Error(detail::concat("load_module: '", path_, "' ", parts...));
  }

  void check_like(const Tensor& found, const Tensor& expected, const std::string& what,
                  const std::string& whose) const {
    if (found.shape() != expected.shape())
      fail("stores ", what, " with shape ", shape_str(found.shape()), "; ", whose, " has shape ",
           shape_str(expected.shape()));
    if (found.dtype() != expected.dtype())
      fail("stores ", what, " as ", dtype_name(found.dtype()), "; ", whose, " is ",
           dtype_name(expected.dtype()));
  }

  uint64_t uint_entry(const std::string& key) const {
    try {
      return file_.get_uint(key);
    } catch (const Error& e) {
      fail("is inconsistent: ", e.what());
    }
  }

  std::string present_generators() const {
    std::vector<std::string> names;
    for (const auto& [key, value] : file_.metadata)
      if (key.starts_with(kGeneratorPrefix) && key.ends_with("/seed"))
        names.push_back(key.substr(kGeneratorPrefix.size(), key.size() - kGeneratorPrefix.size() - 5));
    return names.empty() ? std::string(" (it holds none)") : " (it holds " + quoted_list(names) + ")";
  }

  const std::string path_;
  LoadOptions options_;
  Checkpoint file_;
  std::vector<Copy> copies_;
  std::vector<std::pair<Tensor*, Tensor>> state_;  // replaced whole, already on the device
  Optimizer* optimizer_ = nullptr;
  uint64_t steps_ = 0;
  std::vector<std::pair<Generator*, Generator>> generators_;
};

void load_into(Module& module, const std::string& path, TrainingState* state, const LoadOptions& options) {
  Loader loader(path, options);
  loader.plan_parameters(module);
  if (state != nullptr && state->optimizer != nullptr) loader.plan_optimizer(module, *state->optimizer);
  if (state != nullptr) loader.plan_generators(state->generators);
  loader.apply(state != nullptr ? &state->metadata : nullptr);
}

}  // namespace

namespace {

void collect_noise_generators(Module& module, const std::string& path, std::set<const Generator*>& seen,
                              std::map<std::string, Generator*>& out) {
  if (auto* layer = dynamic_cast<BayesianModule*>(&module)) {
    Generator* gen = &layer->generator();
    if (seen.insert(gen).second) out[path.empty() ? "noise" : path + ".noise"] = gen;
  }
  for (const auto& [name, child] : module.named_children())
    collect_noise_generators(*child, path.empty() ? name : path + "." + name, seen, out);
}

}  // namespace

std::map<std::string, Generator*> noise_generators(Module& module) {
  std::set<const Generator*> seen;
  std::map<std::string, Generator*> out;
  collect_noise_generators(module, "", seen, out);
  return out;
}

void save_module(const Module& module, const std::string& path, const TrainingState& state) {
  Checkpoint ck;
  ck.metadata[kFormatKey] = kFormat;
  for (const auto& [name, p] : module.named_parameters()) {
    R2G2_CHECK(ck.tensors.emplace(kParamPrefix + name, p).second,
               "save_module: the module has two parameters named '", name, "'");
  }
  if (state.optimizer != nullptr) {
    Optimizer& optimizer = *state.optimizer;
    ck.metadata[kOptimizerKindKey] = optimizer.kind();
    ck.set_uint(kOptimizerStepsKey, static_cast<uint64_t>(optimizer.steps_taken()));
    const auto names = names_in_module(module, optimizer, "save_module");
    for (const Optimizer::StateList& list : optimizer.state_lists())
      for (size_t i = 0; i < names.size(); ++i) {
        const Tensor& value = (*list.tensors)[i];
        if (!value.defined()) continue;  // a lazy entry not created yet
        // In the parameter's dtype: after Module::to the state follows only at the next step.
        ck.tensors[state_key(list, names[i])] = value.to(optimizer.params()[i].dtype());
      }
  }
  for (const auto& [name, gen] : state.generators) {
    R2G2_CHECK(gen != nullptr, "save_module: generator '", name, "' is a null pointer");
    R2G2_CHECK(!name.empty(), "save_module: a generator has an empty name");
    ck.set_uint(generator_key(name, "seed"), gen->seed);
    ck.set_uint(generator_key(name, "offset"), gen->offset);
  }
  for (const auto& [key, value] : state.metadata) ck.metadata[kUserPrefix + key] = value;
  const EncodedFile file = encode_safetensors(ck.tensors, std::move(ck.metadata));
  write_file_atomically(path, {file.header, file.data}, "save_module");
}

void load_module(Module& module, const std::string& path, TrainingState& state, const LoadOptions& options) {
  load_into(module, path, &state, options);
}

void load_module(Module& module, const std::string& path, const LoadOptions& options) {
  load_into(module, path, nullptr, options);
}

}  // namespace r2g2
