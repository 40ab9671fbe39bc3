# The app in the mesh, with sa-logic v2 released beside v1 and no routing rules yet.
set -e
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f ~/manifests/app/ -f ~/manifests/versions/sa-logic-v2.yaml \
  -f ~/manifests/tools/sleep.yaml -f ~/manifests/istio/gateway.yaml
kubectl wait --for=condition=available deployment --all --timeout=120s
