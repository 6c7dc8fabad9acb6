# Third-party packages, all from Debian (scripts/install-deps.sh installs them).

find_package(TBB REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(ZLIB REQUIRED)

# Only the ITK modules neurocohort uses: linking all of ITK would need fftw and much more.
find_package(ITK 5.2 REQUIRED COMPONENTS ITKCommon ITKIOImageBase ITKIONIFTI ITKIONRRD ITKIOMeta ITKIOGDCM ITKNIFTI)
add_library(nc_itk INTERFACE)
target_include_directories(nc_itk SYSTEM INTERFACE ${ITK_INCLUDE_DIRS})
target_link_libraries(nc_itk INTERFACE ${ITK_LIBRARIES})

add_library(nc_hdf5 INTERFACE)
target_include_directories(nc_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(nc_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(nc_hdf5 INTERFACE ${HDF5_C_DEFINITIONS})
