// StateTree encoding (state_tree.h). Types are checked exactly, in the order that matters: bool
// before int (bool is an int in Python), None, then the containers.
#include "api/python/src/state_tree.h"

#include <cstring>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "schema/state_tree_generated.h"

namespace py = pybind11;

namespace ckptdb::python {
namespace {

constexpr int kMaxDepth = 512;  // deeper than any training state; bounds recursion on hostile input
constexpr uint32_t kTreeVersion = 1;

[[noreturn]] void RaiseError(const char* cls, const std::string& message) {
  py::object type = py::module_::import("ckptdb.errors").attr(cls);
  PyErr_SetObject(type.ptr(), py::str(message).ptr());
  throw py::error_already_set();
}

std::string TypeName(const py::handle& obj) { return py::str(py::type::handle_of(obj).attr("__qualname__")); }

// One step of the path from the root to the value being encoded: a dict key (str or int) or a
// list or tuple index. The path is only spelled out when an error names it, so a state of
// thousands of leaves is not paid for in repr() calls.
struct PathStep {
  py::handle key;  // a dict's key, or null for an index
  size_t index = 0;
};

class Encoder {
 public:
  Encoder(const py::handle& is_tensor, const py::handle& tensor_types, py::list& tensors)
      : is_tensor_(is_tensor), tensors_(tensors) {
    if (!tensor_types.is_none())
      for (py::handle t : py::reinterpret_borrow<py::tuple>(tensor_types)) exact_.push_back(t.ptr());
  }

  std::string Finish(const py::handle& state) {
    auto root = Encode(state, 0);
    b_.Finish(fb::CreateStateTree(b_, kTreeVersion, root), fb::StateTreeIdentifier());
    return std::string(reinterpret_cast<const char*>(b_.GetBufferPointer()), b_.GetSize());
  }

 private:
  // The path of the value being encoded, as Python spells the lookup: state['optim']['state'][3].
  std::string Path() const {
    std::string p = "state";
    for (const PathStep& s : path_) {
      if (!s.key) p += "[" + std::to_string(s.index) + "]";
      else if (PyUnicode_Check(s.key.ptr())) p += "[" + std::string(py::repr(s.key)) + "]";
      else p += "[" + std::string(py::str(s.key)) + "]";
    }
    return p;
  }
  int64_t ToInt64(const py::handle& obj) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
    if (overflow) throw py::value_error(Path() + ": int " + std::string(py::str(obj)) + " does not fit in 64 bits");
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    return v;
  }
  bool IsTensor(const py::handle& obj) {
    for (PyObject* t : exact_)
      if (reinterpret_cast<PyObject*>(Py_TYPE(obj.ptr())) == t) return true;
    return is_tensor_(obj).cast<bool>();
  }
  // Encodes `v`, the child reached by `step`, whose tensor-name part is `part`.
  flatbuffers::Offset<fb::Node> Child(const py::handle& v, PathStep step, std::string_view part, int depth) {
    const size_t name_size = name_.size();
    if (!name_.empty()) name_ += '.';
    name_ += part;
    path_.push_back(step);
    auto node = Encode(v, depth + 1);
    path_.pop_back();
    name_.resize(name_size);
    return node;
  }

  flatbuffers::Offset<fb::Node> Encode(const py::handle& obj, int depth) {
    if (depth > kMaxDepth) throw py::value_error(Path() + ": nested deeper than " + std::to_string(kMaxDepth) + " levels");
    PyObject* o = obj.ptr();
    if (obj.is_none()) return fb::CreateNode(b_, fb::NodeKind::None);
    if (PyBool_Check(o)) return fb::CreateNode(b_, fb::NodeKind::Bool, o == Py_True ? 1 : 0);
    if (PyLong_Check(o)) return fb::CreateNode(b_, fb::NodeKind::Int, ToInt64(obj));
    if (PyFloat_Check(o)) {
      const double v = PyFloat_AS_DOUBLE(o);
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      return fb::CreateNode(b_, fb::NodeKind::Float, 0, bits);
    }
    if (PyUnicode_Check(o)) {
      auto s = b_.CreateString(obj.cast<std::string>());
      return fb::CreateNode(b_, fb::NodeKind::Str, 0, 0, s);
    }
    if (PyBytes_Check(o)) {
      auto data = b_.CreateVector(reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(o)), PyBytes_GET_SIZE(o));
      return fb::CreateNode(b_, fb::NodeKind::Bytes, 0, 0, 0, data);
    }
    // A tensor is never a dict, list or tuple (is_tensor accepts torch tensors and numpy arrays),
    // so containers are told apart first and is_tensor is called only for leaves.
    if (PyDict_Check(o)) {
      std::vector<flatbuffers::Offset<fb::Node>> keys, values;
      keys.reserve(PyDict_GET_SIZE(o));
      values.reserve(PyDict_GET_SIZE(o));
      for (auto [k, v] : py::reinterpret_borrow<py::dict>(obj)) {
        if (PyUnicode_Check(k.ptr())) {
          Py_ssize_t size = 0;
          const char* utf8 = PyUnicode_AsUTF8AndSize(k.ptr(), &size);
          if (!utf8) throw py::error_already_set();
          const std::string_view part(utf8, size);
          keys.push_back(fb::CreateNode(b_, fb::NodeKind::Str, 0, 0, b_.CreateString(part)));
          values.push_back(Child(v, {k}, part, depth));
        } else if (PyLong_Check(k.ptr()) && !PyBool_Check(k.ptr())) {
          const int64_t i = ToInt64(k);
          keys.push_back(fb::CreateNode(b_, fb::NodeKind::Int, i));
          values.push_back(Child(v, {k}, std::to_string(i), depth));
        } else {
          throw py::type_error(Path() + ": dict keys must be str or int, not " + TypeName(k) + " (" +
                               std::string(py::repr(k)) + ")");
        }
      }
      auto kv = b_.CreateVector(keys);
      auto vv = b_.CreateVector(values);
      return fb::CreateNode(b_, fb::NodeKind::Dict, 0, 0, 0, 0, kv, vv);
    }
    const bool list = PyList_Check(o), tuple = PyTuple_Check(o);
    if (list || tuple) {
      std::vector<flatbuffers::Offset<fb::Node>> values;
      const py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
      const size_t n = seq.size();
      values.reserve(n);
      for (size_t i = 0; i < n; ++i) values.push_back(Child(seq[i], {py::handle(), i}, std::to_string(i), depth));
      auto vv = b_.CreateVector(values);
      return fb::CreateNode(b_, list ? fb::NodeKind::List : fb::NodeKind::Tuple, 0, 0, 0, 0, 0, vv);
    }
    if (IsTensor(obj)) {
      const std::string tensor_name = name_.empty() ? "tensor" : name_;
      if (!names_.insert(tensor_name).second)
        throw py::value_error(Path() + ": another tensor of the state is also named '" + tensor_name +
                              "' (its keys joined by '.'); rename one of them");
      tensors_.append(py::make_tuple(tensor_name, obj));
      auto s = b_.CreateString(tensor_name);
      return fb::CreateNode(b_, fb::NodeKind::Tensor, 0, 0, s);
    }
    throw py::type_error(Path() + ": cannot save a " + TypeName(obj) +
                         " (a training state holds tensors, dicts, lists, tuples, int, float, bool, str, bytes and None)");
  }

  flatbuffers::FlatBufferBuilder b_;
  py::handle is_tensor_;
  std::vector<PyObject*> exact_;  // types that are tensors without asking is_tensor_
  py::list& tensors_;
  std::unordered_set<std::string> names_;
  std::string name_;             // the tensor name of the value being encoded: keys joined by '.'
  std::vector<PathStep> path_;   // how it was reached, for error messages
};

py::object Decode(const fb::Node* n, const py::dict& tensors, int depth) {
  if (!n) RaiseError("CorruptionError", "state tree: a node is missing");
  if (depth > kMaxDepth) RaiseError("CorruptionError", "state tree: nested deeper than " + std::to_string(kMaxDepth));
  switch (n->kind()) {
    case fb::NodeKind::None: return py::none();
    case fb::NodeKind::Bool: return py::bool_(n->i() != 0);
    case fb::NodeKind::Int: return py::int_(n->i());
    case fb::NodeKind::Float: {
      const uint64_t bits = n->float_bits();
      double v;
      std::memcpy(&v, &bits, 8);
      return py::float_(v);
    }
    case fb::NodeKind::Str: return py::str(n->s() ? n->s()->str() : std::string());
    case fb::NodeKind::Bytes:
      return n->data() ? py::bytes(reinterpret_cast<const char*>(n->data()->data()), n->data()->size()) : py::bytes();
    case fb::NodeKind::Tensor: {
      const std::string name = n->s() ? n->s()->str() : std::string();
      if (!tensors.contains(name)) RaiseError("CorruptionError", "state tree names tensor '" + name + "', which the checkpoint lacks");
      return tensors[py::str(name)];
    }
    case fb::NodeKind::Dict: {
      py::dict d;
      const auto* keys = n->keys();
      const auto* values = n->values();
      const size_t count = keys ? keys->size() : 0;
      if (count != (values ? values->size() : 0)) RaiseError("CorruptionError", "state tree: a dict's keys and values differ in number");
      for (size_t i = 0; i < count; ++i) {
        const fb::Node* k = keys->Get(i);
        py::object key;
        if (k->kind() == fb::NodeKind::Str) key = py::str(k->s() ? k->s()->str() : std::string());
        else if (k->kind() == fb::NodeKind::Int) key = py::int_(k->i());
        else RaiseError("CorruptionError", "state tree: a dict key is neither str nor int");
        d[key] = Decode(values->Get(i), tensors, depth + 1);
      }
      return d;
    }
    case fb::NodeKind::List:
    case fb::NodeKind::Tuple: {
      py::list items;
      if (n->values())
        for (const fb::Node* v : *n->values()) items.append(Decode(v, tensors, depth + 1));
      if (n->kind() == fb::NodeKind::List) return items;
      return py::tuple(items);
    }
  }
  RaiseError("NotSupportedError", "state tree: node kind " + std::to_string(int(n->kind())) +
                                      " is unknown to this version of ckptdb");
}

}  // namespace

std::string EncodeStateTree(const py::handle& state, const py::handle& is_tensor, const py::handle& tensor_types,
                            py::list& tensors) {
  return Encoder(is_tensor, tensor_types, tensors).Finish(state);
}

py::object DecodeStateTree(const std::string& bytes, const py::dict& tensors) {
  // FlatBuffers reads scalars in place: give it 8-byte aligned memory.
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);
  if (!bytes.empty()) std::memcpy(aligned.data(), bytes.data(), bytes.size());
  const auto* data = reinterpret_cast<const uint8_t*>(aligned.data());
  flatbuffers::Verifier::Options vo;
  vo.max_depth = 2 * kMaxDepth + 8;
  vo.max_tables = 1u << 24;
  flatbuffers::Verifier verifier(data, bytes.size(), vo);
  if (!fb::VerifyStateTreeBuffer(verifier)) RaiseError("CorruptionError", "state tree fails FlatBuffers verification");
  const fb::StateTree* tree = fb::GetStateTree(data);
  if (tree->version() != kTreeVersion)
    RaiseError("NotSupportedError", "state tree version " + std::to_string(tree->version()) + " is unknown to this version of ckptdb");
  return Decode(tree->root(), tensors, 0);
}

void BindStateTree(py::module_& m) {
  m.def(
      "encode_state_tree",
      [](const py::handle& state, const py::handle& is_tensor, const py::handle& tensor_types) {
        py::list tensors;
        std::string bytes = EncodeStateTree(state, is_tensor, tensor_types, tensors);
        return py::make_tuple(py::bytes(bytes), tensors);
      },
      py::arg("state"), py::arg("is_tensor"), py::arg("tensor_types") = py::none());
  m.def("decode_state_tree", [](const py::bytes& bytes, const py::dict& tensors) {
    return DecodeStateTree(std::string(bytes), tensors);
  });
}

}  // namespace ckptdb::python
