# CPU Triton 2.51 (the build inside nvidia-pytriton, python backend only). The entrypoint
# prepares the python backend, then execs `tritonserver` with the compose `command:` as is.
ARG APP_IMAGE=triton-suite/app:local
FROM ${APP_IMAGE}
USER app
WORKDIR /home/app
EXPOSE 8000 8001 8002
ENTRYPOINT ["python", "-m", "serving.entrypoint"]
CMD ["tritonserver", "--model-repository=/models"]
