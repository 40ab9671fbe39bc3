"""pilot: turns Services and Istio's networking rules into Envoy configuration, served over ADS.

One builder per resource type, as Istio's pilot has them: :mod:`.clusters`,
:mod:`.endpoints`, :mod:`.routes`, :mod:`.listeners`; :mod:`.model` is what
they read, :mod:`.ads` serves what they build.
"""
