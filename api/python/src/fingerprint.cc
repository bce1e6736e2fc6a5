// Fingerprints (fingerprint.h), read through the C API with interned attribute names.
#include "api/python/src/fingerprint.h"

namespace py = pybind11;

namespace ckptdb::python {
namespace {

// Interned once and never freed: they must outlive every module-level object at exit.
PyObject* Name(const char* s) { return PyUnicode_InternFromString(s); }

py::object Attr(PyObject* o, PyObject* name) {
  PyObject* r = PyObject_GetAttr(o, name);
  if (!r) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

py::object Call(PyObject* o, PyObject* name) {
  PyObject* r = PyObject_CallMethodNoArgs(o, name);
  if (!r) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

uint64_t Unsigned(const py::object& i) {
  const unsigned long long v = PyLong_AsUnsignedLongLong(i.ptr());
  if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

// Appends the int64 items of tuple `t` (a torch.Size or a stride tuple) to `out`.
void AppendInts(const py::object& t, std::string& out) {
  if (!PyTuple_Check(t.ptr())) throw py::type_error("fingerprints: a tensor's shape or strides are not a tuple");
  const Py_ssize_t n = PyTuple_GET_SIZE(t.ptr());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  for (Py_ssize_t i = 0; i < n; ++i) {
    const long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(t.ptr(), i));
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
}

// None where `v` has no version counter (inference tensors raise RuntimeError for _version).
py::object Fingerprint(PyObject* v, PyObject* tensor_class) {
  static PyObject* const is_cpu = Name("is_cpu");
  static PyObject* const version = Name("_version");
  static PyObject* const data_ptr = Name("data_ptr");
  static PyObject* const shape = Name("shape");
  static PyObject* const stride = Name("stride");
  static PyObject* const dtype = Name("dtype");
  // torch.Tensor's isinstance goes through a metaclass hook: a tensor or a direct subclass of it
  // (nn.Parameter) is told by its type.
  PyTypeObject* type = Py_TYPE(v);
  const bool direct = reinterpret_cast<PyObject*>(type) == tensor_class ||
                      reinterpret_cast<PyObject*>(type->tp_base) == tensor_class;
  const int is = direct ? 1 : PyObject_IsInstance(v, tensor_class);
  if (is < 0) throw py::error_already_set();
  if (!is || Attr(v, is_cpu).ptr() != Py_True) return py::none();
  PyObject* ver = PyObject_GetAttr(v, version);
  if (!ver) {
    if (!PyErr_ExceptionMatches(PyExc_RuntimeError)) throw py::error_already_set();
    PyErr_Clear();
    return py::none();
  }
  const py::object counter = py::reinterpret_steal<py::object>(ver);
  // Packed as bytes, not a tuple: the cyclic garbage collector does not track bytes, and a
  // skip_unchanged save keeps one per tensor until the next save.
  uint64_t fixed[3] = {Unsigned(Call(v, data_ptr)), Unsigned(counter),
                       reinterpret_cast<uintptr_t>(Attr(v, dtype).ptr())};  // dtypes are singletons
  std::string out(reinterpret_cast<const char*>(fixed), sizeof fixed);
  AppendInts(Attr(v, shape), out);
  AppendInts(Call(v, stride), out);
  return py::bytes(out);
}

}  // namespace

py::list Fingerprints(const py::list& leaves, const py::handle& tensor_class) {
  py::list out(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) {
    PyObject* leaf = PyList_GET_ITEM(leaves.ptr(), i);
    if (!PyTuple_Check(leaf) || PyTuple_GET_SIZE(leaf) != 2)
      throw py::value_error("fingerprints: leaf " + std::to_string(i) + " is not a (name, value) pair");
    PyList_SET_ITEM(out.ptr(), i, Fingerprint(PyTuple_GET_ITEM(leaf, 1), tensor_class.ptr()).release().ptr());
  }
  return out;
}

void BindFingerprint(py::module_& m) {
  m.def("fingerprints", &Fingerprints, py::arg("leaves"), py::arg("tensor_class"));
}

}  // namespace ckptdb::python
