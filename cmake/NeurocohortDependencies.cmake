# Third-party packages, all from Debian (scripts/install-deps.sh installs them).

find_package(TBB REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(Boost 1.74 REQUIRED)  # header-only Boost.Math distributions
find_package(NLopt REQUIRED CONFIG)  # the normative models' maximum-likelihood fits
if(NEUROCOHORT_MPI)
  find_package(MPI REQUIRED COMPONENTS C)
endif()

# Only the ITK modules neurocohort uses: linking all of ITK would need fftw and much more.
# nc_itk: image IO, linked by io/. nc_itk_png: the PNG writer of the QC snapshots (qc/).
# nc_itk_filters: the filters that tests and benchmarks compare the kernels against (the
# kernels themselves never link ITK).
set(NC_ITK_IO_MODULES ITKCommon ITKIOImageBase ITKIONIFTI ITKIONRRD ITKIOMeta ITKIOGDCM ITKNIFTI)
set(NC_ITK_FILTER_MODULES ITKImageGrid ITKImageFunction ITKTransform ITKThresholding ITKConnectedComponents
    ITKBinaryMathematicalMorphology ITKMathematicalMorphology ITKImageStatistics ITKDistanceMap ITKLabelMap
    ITKImageLabel ITKImageIntensity)
set(NC_ITK_PNG_MODULES ITKIOPNG)
find_package(ITK 5.2 REQUIRED COMPONENTS ${NC_ITK_IO_MODULES} ${NC_ITK_PNG_MODULES} ${NC_ITK_FILTER_MODULES})
itk_module_config(NC_ITK_IO ${NC_ITK_IO_MODULES})
itk_module_config(NC_ITK_PNG ${NC_ITK_PNG_MODULES})
itk_module_config(NC_ITK_FILTERS ${NC_ITK_FILTER_MODULES})
add_library(nc_itk INTERFACE)
target_include_directories(nc_itk SYSTEM INTERFACE ${NC_ITK_IO_INCLUDE_DIRS})
target_link_libraries(nc_itk INTERFACE ${NC_ITK_IO_LIBRARIES})
add_library(nc_itk_png INTERFACE)
target_include_directories(nc_itk_png SYSTEM INTERFACE ${NC_ITK_PNG_INCLUDE_DIRS})
target_link_libraries(nc_itk_png INTERFACE nc_itk ${NC_ITK_PNG_LIBRARIES})
add_library(nc_itk_filters INTERFACE)
target_include_directories(nc_itk_filters SYSTEM INTERFACE ${NC_ITK_FILTERS_INCLUDE_DIRS})
target_link_libraries(nc_itk_filters INTERFACE nc_itk ${NC_ITK_FILTERS_LIBRARIES})

# DCMTK: the DICOM reader and writer of dicom/ (dcmdata, and the JPEG/JPEG-LS decoders).
find_package(DCMTK REQUIRED CONFIG)
add_library(nc_dcmtk INTERFACE)
target_link_libraries(nc_dcmtk INTERFACE DCMTK::dcmdata DCMTK::dcmjpeg DCMTK::dcmjpls DCMTK::oflog DCMTK::ofstd)

add_library(nc_hdf5 INTERFACE)
target_include_directories(nc_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(nc_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(nc_hdf5 INTERFACE ${HDF5_C_DEFINITIONS})

# Colin27 and AAL from Debian's mricron-data: the anatomy of `synth`, and the head that the GPU
# tests and the benchmarks read. Found in /usr/share or under any CMAKE_PREFIX_PATH entry (a GPU
# node unpacks the package into a prefix of its own). nc_templates gives users NC_TEMPLATE_DIR.
set(_nc_template_hints)
foreach(_nc_prefix IN LISTS CMAKE_PREFIX_PATH)
  list(APPEND _nc_template_hints ${_nc_prefix}/share/mricron/templates)
endforeach()
find_path(NEUROCOHORT_TEMPLATE_DIR ch2.nii.gz HINTS ${_nc_template_hints} /usr/share/mricron/templates NO_DEFAULT_PATH
          DOC "Folder with mricron-data's ch2.nii.gz, ch2bet.nii.gz and aal.nii.gz")
set(_nc_template_dir ${NEUROCOHORT_TEMPLATE_DIR})
if(NOT NEUROCOHORT_TEMPLATE_DIR)
  set(_nc_template_dir /usr/share/mricron/templates)
  message(STATUS "neurocohort: mricron-data's templates not found: synth and the tests that read Colin27 will "
                 "say so (install mricron-data, or set NEUROCOHORT_TEMPLATE_DIR)")
endif()
add_library(nc_templates INTERFACE)
target_compile_definitions(nc_templates INTERFACE NC_TEMPLATE_DIR="${_nc_template_dir}")
