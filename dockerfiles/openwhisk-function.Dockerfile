# An OpenWhisk action image (a "blackbox" action): the run image of the function's language
# version plus its package, whose wrapper server speaks OpenWhisk's action protocol on port 8080
# (POST /init, POST /run). The OpenWhisk platform builds it with the package as `function/` of the
# build context; this file is compiled into sebs, so editing it changes every image's hash.
ARG RUN_IMAGE
FROM ${RUN_IMAGE}
COPY function/ /function/
EXPOSE 8080
