# A client to send requests from; nothing else yet: the learner builds the rest.
set -e
kubectl create deployment client --image=labplatform/sleep
kubectl rollout status deployment/client --timeout=120s
