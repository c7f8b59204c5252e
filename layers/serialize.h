#pragma once
// Saving and loading a module by parameter name, with what it takes to resume training:
// the optimizer's state, the noise generators' positions and the caller's own metadata.
//
//   TrainingState state{.optimizer = &adam, .generators = {{"noise", &gen}}};
//   state.metadata["step"] = std::to_string(step);
//   save_module(model, "model.ckpt", state);
//   ...
//   load_module(fresh_model, "model.ckpt", state);  // same model shape, same names
//
// The file is in the safetensors format (an 8-byte little-endian header length, a JSON
// header padded with spaces to a multiple of 8 bytes, then the raw little-endian data of
// every tensor, back to back), so other tools (Python's `safetensors`, or
// tests/layers/read_safetensors.py with the standard library alone) read it too. It holds
//   tensors  "param/<dotted name>"                   every Module::named_parameters() entry
//            "optimizer/<state>/<name>"              the optimizer's state by parameter name:
//                                                    Adam's "m" and "v", SGD's "momentum"
//   __metadata__ (strings)
//            "module/format"                         marks a file written by save_module
//            "module/data_crc32"                     CRC-32 of the data section, 8 hex digits
//            "optimizer/kind", "optimizer/steps"     "adam" or "sgd", steps taken
//            "generator/<name>/seed", ".../offset"   each named generator, in decimal
//            "user/<key>"                            the caller's metadata
// Tensors are stored F32, F64 or I32, widest first, then by name.
// Keying optimizer state by name, not by position, lets a file be read by a module whose
// optimizer lists its parameters in another order, and makes a mismatch nameable.
#include <map>
#include <string>

#include "r2g2/core/optim.h"
#include "r2g2/core/random.h"
#include "r2g2/layers/module.h"

namespace r2g2 {

// What travels with the parameters; every part is optional. The pointers are borrowed:
// save_module reads through them, load_module restores into them.
struct TrainingState {
  // Adam or SGD (state lists and steps taken). Its parameters must all be parameters of
  // the module.
  Optimizer* optimizer = nullptr;
  // Named generators (seed and offset). load_module requires each name to be in the file.
  std::map<std::string, Generator*> generators = {};
  // Free-form entries (step count, estimator schedule, ...): save_module writes these;
  // load_module replaces them with the file's.
  std::map<std::string, std::string> metadata = {};
};

struct LoadOptions {
  // Strict: the file's parameter names must be exactly the module's. Not strict: module
  // parameters absent from the file keep their values, and file entries the module does
  // not have are ignored, and so are missing optimizer state entries: the optimizer keeps
  // its own for those parameters. A shape or dtype mismatch is an error either way.
  bool strict = true;
};

// The noise generators of the Bayesian layers of `module` (BayesianModule::generator), to
// pass as TrainingState::generators: each stream once, named after the first layer that
// draws from it, "<layer path>.noise" ("noise" for the module itself), so a model whose
// layers share one stream (Module::set_noise_source) yields one entry. Two models built
// the same way yield the same names.
std::map<std::string, Generator*> noise_generators(Module& module);

// Writes the module's parameters and `state` to `path` atomically (the previous file
// survives a failed save). Names and metadata must be valid UTF-8.
void save_module(const Module& module, const std::string& path, const TrainingState& state = {});

// Reads `path` into the module's parameters in place (on each parameter's device, so an
// optimizer built before the load keeps working), and restores `state`. Everything is
// checked before anything changes: a missing or unexpected name, a shape or dtype
// mismatch, a missing generator or an optimizer of another kind is an r2g2::Error naming
// the file, the entry and what was expected and found, and leaves the module, optimizer
// and generators as they were. So is a file that breaks the format (truncated, invalid
// or repeated-key JSON, an unknown dtype, a shape that disagrees with its data_offsets,
// data with gaps or overlaps, non-string metadata) or whose data fails its checksum; the
// message names the entry and the byte offset where it was found.
void load_module(Module& module, const std::string& path, TrainingState& state,
                 const LoadOptions& options = {});
void load_module(Module& module, const std::string& path, const LoadOptions& options = {});

}  // namespace r2g2
