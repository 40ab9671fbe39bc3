# The app in the mesh; beside sa-logic v1 runs a buggy pod that stalls 1.5 s and then fails
# four calls in five, and fails the fifth at once: it never answers well.
set -e
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f ~/manifests/app/ -f ~/manifests/versions/sa-logic-buggy.yaml \
  -f ~/manifests/tools/sleep.yaml -f ~/manifests/istio/gateway.yaml
kubectl set env deployment/sa-logic-buggy \
  SA_LOGIC_FAILURE_RATE=0.2 SA_LOGIC_STALL_RATE=0.8 SA_LOGIC_STALL_SECONDS=1.5
kubectl rollout status deployment/sa-logic-buggy --timeout=120s
kubectl wait --for=condition=available deployment --all --timeout=120s
